"""Revocation reaching every verifier: GET /v3/OS-REVOKE/events, the feeds polling it, the verifier's checks.

The end-to-end tests serve a real identity app on a loopback port and verify
its tokens with a TokenVerifier polling it every 0.3 s, as the API and image
daemons do; a revocation must be refused there within poll interval + 1 s.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import jwt
import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cells.db.identity_models import RevocationEvent
from cells.db.types import utcnow
from cells.exception import Unauthorized
from cells.service import WsgiServer
from identity import revocation
from identity.handlers import revoke
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from identity.revocation_feed import HttpRevocationFeed, default_feeds, identity_url_of
from identity.service import EXTENSION
from tests.unit.identity.conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    issue,
    password_auth,
    wait_until_serving,
)

POLL = 0.3
BOUND = POLL + 1.0  # the documented bound: revocation_poll plus one fetch


@pytest.fixture
def conf(make_conf):
    return make_conf(auth={"revocation_poll": POLL})


@pytest.fixture
def server(conf, app):
    """The identity app behind a real threaded WSGI server (cheroot, as cloud-identity runs it)."""
    server = WsgiServer("identity-test", app, conf.identity)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def served(conf, server):
    """The served identity's base URL, once it answers."""
    url = conf.identity.public_url
    wait_until_serving(url)
    return url


def passes(verifier: TokenVerifier, token: str) -> bool:
    try:
        verifier.verify(token)
        return True
    except Unauthorized as exc:
        assert exc.message == "The token has been revoked.", exc.message
        return False


def refused_within(verifier: TokenVerifier, token: str, seconds: float = BOUND) -> float:
    """Seconds until the verifier refuses ``token``; fails the test past ``seconds``."""
    started = time.monotonic()
    while passes(verifier, token):
        assert time.monotonic() - started < seconds, f"still accepted after {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def record(db, **match: str) -> None:
    db.transaction(lambda s: revocation.record(s, 3600, **match))


def unscoped(client) -> str:
    body = password_auth("demo", DEMO_PASSWORD)
    body["auth"]["scope"] = "unscoped"  # not the default project
    return token_of(client.post("/v3/auth/tokens", json=body))


def token_of(response) -> str:
    assert response.status_code == 201, response.json
    return response.headers["X-Subject-Token"]


# --- GET /v3/OS-REVOKE/events ---------------------------------------------------------


def test_events_are_public_in_keystone_format_and_filtered_by_since(client, db, ids):
    empty = client.get("/v3/OS-REVOKE/events")  # no token: verifiers of other cells have no account
    assert empty.status_code == 200
    assert empty.json["events"] == [] and empty.json["links"]["next"] is None
    links = empty.json["links"]
    assert links["previous"] is None and links["self"].endswith("/v3/OS-REVOKE/events")
    record(db, user_id=ids["users"]["demo"])
    record(db, user_id=ids["users"]["admin"], project_id=ids["projects"]["admin"])
    events = client.get("/v3/OS-REVOKE/events").json["events"]
    assert [set(e) for e in events] == [{"id", "user_id", "issued_before", "revoked_at"},
                                       {"id", "user_id", "project_id", "issued_before", "revoked_at"}]
    assert events[0]["user_id"] == ids["users"]["demo"]
    assert events[1]["project_id"] == ids["projects"]["admin"]
    assert events[0]["revoked_at"].endswith("Z") and events[0]["revoked_at"] <= events[1]["revoked_at"]

    second = events[1]["revoked_at"]
    since = client.get("/v3/OS-REVOKE/events", query_string={"since": second}).json["events"]
    assert [e["id"] for e in since] == [events[1]["id"]]  # inclusive, newer only
    # The same instant as an offset, and with the "+" of a hand-typed query string arriving as a space.
    instant = dt.datetime.fromisoformat(second.replace("Z", "+00:00"))
    instant = instant.astimezone(dt.timezone(dt.timedelta(hours=2)))
    offset = client.get("/v3/OS-REVOKE/events", query_string={"since": instant.isoformat()})
    assert [e["id"] for e in offset.json["events"]] == [events[1]["id"]]
    spaced = client.get("/v3/OS-REVOKE/events?since=" + instant.isoformat().replace("+", "%20"))
    assert [e["id"] for e in spaced.json["events"]] == [events[1]["id"]]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.get("/v3/OS-REVOKE/events", query_string={"since": future}).json["events"] == []
    assert len(client.get("/v3/OS-REVOKE/events?since=").json["events"]) == 2  # empty: all, as Keystone


@pytest.mark.parametrize("since", ["yesterday", "2024-13-01T00:00:00Z", "1700000000", "2024-01-01T25:00"])
def test_events_bad_since_is_400(client, since):
    response = client.get("/v3/OS-REVOKE/events", query_string={"since": since})
    assert response.status_code == 400
    assert response.json["error"]["code"] == 400 and "ISO 8601" in response.json["error"]["message"]


def test_events_expired_ones_are_not_served_and_are_purged(client, db, ids, app):
    record(db, user_id=ids["users"]["demo"])
    record(db, user_id=ids["users"]["admin"])
    past = utcnow() - dt.timedelta(seconds=1)
    db.transaction(lambda s: s.execute(sa.update(RevocationEvent).where(
        RevocationEvent.user_id == ids["users"]["demo"]).values(expires_at=past)))
    served = client.get("/v3/OS-REVOKE/events").json["events"]
    assert [e["user_id"] for e in served] == [ids["users"]["admin"]]
    app.extensions[EXTENSION].revocations.poll()  # the service's poller purges now and then
    assert db.transaction(lambda s: s.scalar(sa.select(sa.func.count()).select_from(RevocationEvent))) == 1


def test_events_come_in_pages_a_feed_follows(conf, served, db, ids, monkeypatch):
    monkeypatch.setattr(revoke, "PAGE_SIZE", 2)
    for _ in range(5):
        record(db, user_id=ids["users"]["demo"])
    first = requests.get(served + "/v3/OS-REVOKE/events", timeout=5).json()
    assert len(first["events"]) == 2 and "since=" in first["links"]["next"]
    feed = HttpRevocationFeed("top", served, POLL)
    assert feed.refresh() and len(feed) == 5


# --- end to end: a verifier polling a served identity -----------------------------------------


def test_deleted_token_is_refused_everywhere_within_the_bound(conf, client, served, ids):
    verifier = TokenVerifier(conf, service="api")
    doomed, other, admin = token_of(issue(client)), token_of(issue(client)), \
        token_of(issue(client, "admin", ADMIN_PASSWORD, "admin"))
    assert all(passes(verifier, t) for t in (doomed, other, admin))  # now cached
    time.sleep(POLL * 2)  # the feed has polled at least once and found nothing
    deleted = requests.delete(served + "/v3/auth/tokens", timeout=5,
                              headers={"X-Auth-Token": doomed, "X-Subject-Token": doomed})
    assert deleted.status_code == 204
    # The identity service itself refuses it at once (its own verifier, refreshed by the handler).
    check = requests.get(served + "/v3/auth/tokens", timeout=5,
                         headers={"X-Auth-Token": doomed, "X-Subject-Token": doomed})
    assert check.status_code == 401 and "revoked" in check.json()["error"]["message"]
    refused_within(verifier, doomed)
    assert passes(verifier, other) and passes(verifier, admin)
    # A verifier started after the revocation learns it from its first poll.
    images = TokenVerifier(conf, service="images")
    refused_within(images, doomed)
    assert passes(images, other)


@pytest.mark.parametrize("change, refused", [
    ("password changed or user disabled", {"demo@demo", "demo"}),
    ("role assignment deleted", {"demo@demo"}),
    ("project disabled", {"demo@demo"}),
])
def test_recorded_events_revoke_what_they_match(conf, client, served, db, ids, change, refused):
    verifier = TokenVerifier(conf, service="api")
    tokens = {"demo@demo": token_of(issue(client)), "demo": unscoped(client),
              "admin@admin": token_of(issue(client, "admin", ADMIN_PASSWORD, "admin"))}
    assert all(passes(verifier, t) for t in tokens.values())
    demo, project = ids["users"]["demo"], ids["projects"]["demo"]
    match = {"password changed or user disabled": {"user_id": demo},
             "role assignment deleted": {"user_id": demo, "project_id": project},
             "project disabled": {"project_id": project}}[change]
    record(db, **match)
    for name in sorted(refused):
        refused_within(verifier, tokens[name])
    assert {name for name, token in tokens.items() if not passes(verifier, token)} == refused
    time.sleep(0.01)
    # A token issued after the change is not caught by the event (iat has milliseconds).
    assert passes(verifier, token_of(issue(client)))


def test_identity_itself_sees_revocations_at_once(client, db, ids, app):
    token = token_of(issue(client))
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert client.get("/v3/auth/tokens", headers=headers).status_code == 200
    record(db, user_id=ids["users"]["demo"])  # as the users handler does on a password change ...
    app.extensions[EXTENSION].revocations.refresh()  # ... followed by its refresh hook
    response = client.get("/v3/auth/tokens", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json["error"]["message"]
    rescope = client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    assert rescope.status_code == 401


def test_identity_polls_its_database_for_other_processes_events(client, db, ids):
    token = token_of(issue(client))
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert client.get("/v3/auth/tokens", headers=headers).status_code == 200  # starts its poller
    record(db, user_id=ids["users"]["demo"])  # another identity process, no refresh here
    deadline = time.monotonic() + 2.0
    while client.get("/v3/auth/tokens", headers=headers).status_code == 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_unreachable_identity_keeps_the_known_events_and_warns(conf, client, server, served, ids, caplog):
    verifier = TokenVerifier(conf, service="api")
    doomed, other = token_of(issue(client)), token_of(issue(client))
    assert passes(verifier, doomed) and passes(verifier, other)
    requests.delete(served + "/v3/auth/tokens", timeout=5,
                    headers={"X-Auth-Token": doomed, "X-Subject-Token": doomed})
    refused_within(verifier, doomed)
    caplog.set_level(logging.WARNING, logger="identity.revocation_feed")
    server.stop()  # the identity service goes away
    with pytest.raises(requests.ConnectionError):
        requests.get(served + "/v3", timeout=1)
    deadline = time.monotonic() + BOUND + 5
    while not any("cannot fetch revocation events" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    message = next(r.getMessage() for r in caplog.records if "cannot fetch" in r.getMessage())
    assert "1 events known" in message and doomed not in message
    assert passes(verifier, other) and not passes(verifier, doomed)
    fresh = token_of(issue(client))
    assert passes(verifier, fresh)  # first-seen tokens still verify (keys are cached too)


# --- feeds and the verifier, without HTTP -----------------------------------------------------


class ScriptedFeed(HttpRevocationFeed):
    """A feed whose fetches return what the test says (or raise)."""

    def __init__(self, name: str = "top", **kwargs: Any) -> None:
        super().__init__(name, "http://127.0.0.1:9", 3600, **kwargs)
        self.served: list[dict[str, Any]] = []
        self.asked: list[float | None] = []
        self.fail: Exception | None = None

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        self.asked.append(since)
        if self.fail is not None:
            raise self.fail
        cut = float("-inf") if since is None else since
        return [e for e in self.served if "revoked_at" not in e or dt.datetime.fromisoformat(
            e["revoked_at"].replace("Z", "+00:00")).timestamp() >= cut], True


def event(event_id: int, revoked: float, **match: str) -> dict[str, Any]:
    def iso(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return {"id": event_id, **match, "issued_before": iso(revoked), "revoked_at": iso(revoked)}


def test_feed_asks_since_the_newest_minus_overlap_dedups_and_resyncs():
    feed = ScriptedFeed(overlap=60.0, resync_interval=3600.0)
    now = time.time()
    feed.served = [event(1, now - 30, user_id="u1")]
    assert feed.refresh() and feed.asked == [None] and len(feed) == 1
    generation = feed.list.generation
    assert feed.refresh() and feed.asked[-1] == pytest.approx(now - 90)
    assert feed.list.generation == generation  # the same event again is no change
    feed.served.append(event(2, now - 10, audit_id="a2"))
    feed.refresh()
    assert len(feed) == 2 and feed.list.generation == generation + 1
    # A full resync keeps only what the issuer still serves (it purged event 1: its tokens expired).
    feed.served = feed.served[1:]
    feed._resync_due = float("-inf")
    feed.refresh()
    assert feed.asked[-1] is None and len(feed) == 1 and feed.list.generation == generation + 2


def test_feed_skips_malformed_events():
    feed = ScriptedFeed()
    feed.served = [event(1, time.time(), user_id="u1")]
    good = feed.served[0]
    feed.served = [good, {"id": "x", "revoked_at": good["revoked_at"]}, {"id": 3, "user_id": "u"}]
    assert feed.refresh() and len(feed) == 1


def test_feed_failure_keeps_events_and_warns_once_a_minute(caplog):
    feed = ScriptedFeed()
    feed.served = [event(1, time.time(), user_id="u1")]
    feed.refresh()
    feed.fail = requests.ConnectionError("http://user:secret@host/ refused")
    caplog.set_level(logging.INFO, logger="identity.revocation_feed")
    assert not feed.refresh() and not feed.refresh()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0] and "secret" not in warnings[0]
    assert len(feed) == 1
    feed.fail = None
    assert feed.refresh()
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


KEY = Ed25519PrivateKey.generate()
SOURCE = StaticKeySource({"k1": KEY.public_key()})


def mint(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": "top", "aud": ["top"], "sub": "u1", "domain_id": "default", "project_id": "p1",
              "project_domain_id": "default", "roles": ["member"], "iat": now, "exp": now + 600,
              "jti": "j1", "audit_ids": ["a1"], **overrides}
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "k1"})


def test_cached_tokens_are_rechecked_only_when_events_change(conf, monkeypatch):
    feed = ScriptedFeed()
    monkeypatch.setattr(feed, "start", lambda: None)  # polled by hand here
    verifier = TokenVerifier(conf, SOURCE, revocations={"top": feed})
    token, other = mint(audit_ids=["a1"], jti="j1"), mint(audit_ids=["a2"], jti="j2")
    assert passes(verifier, token) and passes(verifier, other)
    checks: list[int] = []
    original = feed.list.is_revoked
    monkeypatch.setattr(feed.list, "is_revoked", lambda facts: checks.append(1) or original(facts))
    for _ in range(100):
        verifier.verify(token)
    assert checks == []  # cached and nothing changed: no check at all
    feed.served = [event(1, time.time() + 1, audit_id="a1")]
    feed.refresh()
    assert not passes(verifier, token) and passes(verifier, other)
    assert not passes(verifier, token)  # out of the cache now, refused again on a full verify


def test_events_of_one_issuer_never_revoke_another_issuers_tokens(make_conf, monkeypatch):
    conf = make_conf("cell1", "compute", parent="top", auth={"trusted_issuers": [
        {"issuer": "top", "jwks_url": "http://127.0.0.1:9/v3/OS-JWKS"}]})
    top, own = ScriptedFeed("top"), ScriptedFeed("top!cell1")
    for feed in (top, own):
        monkeypatch.setattr(feed, "start", lambda: None)
    verifier = TokenVerifier(conf, SOURCE, revocations={"top": top, "top!cell1": own})
    # The same user id, audit id and project in tokens of both issuers.
    from_top = mint(iss="top", aud=["top"], jti="j1")
    from_cell = mint(iss="top!cell1", aud=["top!cell1"], jti="j2")
    assert passes(verifier, from_top) and passes(verifier, from_cell)
    top.served = [event(1, time.time() + 1, user_id="u1")]
    top.refresh()
    assert not passes(verifier, from_top) and passes(verifier, from_cell)
    own.served = [event(1, time.time() + 1, audit_id="a1")]  # the same event id, the other issuer
    own.refresh()
    assert not passes(verifier, from_cell)


def test_feeds_are_derived_from_the_configuration(make_conf, caplog):
    conf = make_conf("cell1", "compute", parent="top", auth={"revocation_poll": 2.5, "trusted_issuers": [
        {"issuer": "top", "jwks_url": "http://10.0.0.1:5000/v3/OS-JWKS"},
        {"issuer": "top!cell2", "jwks_url": "http://10.0.0.2:5000/.well-known/jwks.json"},
        {"issuer": "elsewhere", "jwks_url": "http://10.0.0.3/keys.json"}]})
    feeds = default_feeds(conf, conf.trusted_issuers)
    assert {issuer: feed.url for issuer, feed in feeds.items()} == {  # type: ignore[attr-defined]
        "top!cell1": conf.identity_url + "/v3/OS-REVOKE/events",
        "top": "http://10.0.0.1:5000/v3/OS-REVOKE/events",
        "top!cell2": "http://10.0.0.2:5000/v3/OS-REVOKE/events"}
    assert all(feed.interval == 2.5 for feed in feeds.values())
    assert identity_url_of("http://h/v3/OS-JWKS/") == "http://h" and identity_url_of("http://h/jwks") is None
    # An issuer without a feed is still verified, with one warning.
    verifier = TokenVerifier(conf, SOURCE, revocations={})
    caplog.set_level(logging.WARNING, logger="identity.middleware")
    for jti in ("j1", "j2", "j3"):
        assert passes(verifier, mint(iss="elsewhere", aud=["top!cell1"], jti=jti))
    warnings = [r.getMessage() for r in caplog.records if "no revocation events" in r.getMessage()]
    assert len(warnings) == 1 and "'elsewhere'" in warnings[0]
