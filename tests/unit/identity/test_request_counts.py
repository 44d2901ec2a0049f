"""Requests counted by caller in AuthMiddleware, and GET /request-counts (admins of this cell only)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from identity.key_sources import StaticKeySource
from identity.middleware import AuthMiddleware, TokenVerifier
from identity.request_counts import CALLER_KEY, RequestCounts, login_caller
from tests.unit.identity.conftest import DEMO_PASSWORD, issue, password_auth
from tests.unit.identity.resources import admin, demo
from tests.unit.identity.test_middleware import KEY, OTHER, mint


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ.get("PATH_INFO") == "/named":  # a handler naming its caller itself, as identity's login does
        environ[CALLER_KEY] = {"issuer": "top", "user_id": None, "user_name": "mallory", "project_id": None}
    if environ.get("PATH_INFO") == "/boom":
        raise RuntimeError("the handler failed")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


@pytest.fixture
def verifier(conf) -> TokenVerifier:
    return TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}), revocations={})


@pytest.fixture
def middleware(conf, verifier) -> AuthMiddleware:
    return AuthMiddleware(_app, conf, verifier=verifier, public_paths=("/", "/named", "/boom"),
                          daemon="cloud-test")


def counts(client: Client, token: str) -> dict[str, Any]:
    response = client.get("/request-counts", headers={"X-Auth-Token": token})
    assert response.status_code == 200, response.json
    return response.json


def by_user(document: dict[str, Any]) -> dict[str | None, int]:
    return {c["user_id"] or c["user_name"]: c["requests"] for c in document["callers"]}


def test_requests_are_counted_by_caller_anonymous_and_refused(middleware):
    client = Client(middleware, Response)
    alice, bob = mint(sub="alice-id", name="alice"), mint(sub="bob-id", name="bob", project_id="p2")
    for _ in range(3):
        assert client.get("/servers", headers={"X-Auth-Token": alice}).status_code == 200
    assert client.get("/servers", headers={"X-Auth-Token": bob}).status_code == 200
    assert client.get("/").status_code == 200  # public, no token
    assert client.get("/servers").status_code == 401  # no token: anonymous
    assert client.get("/servers", headers={"X-Auth-Token": "junk"}).status_code == 401
    assert client.get("/servers", headers={"X-Auth-Token": mint(OTHER)}).status_code == 401  # bad signature
    admin_token = mint(sub="root-id", name="root", roles=["admin"], project_id="p0")
    document = counts(client, admin_token)
    assert document["service"] == "cloud-test" and document["since"].endswith("Z")
    assert (document["anonymous"], document["refused"], document["others"]) == (2, 2, 0)
    assert document["callers"] == [
        {"issuer": "top", "user_id": "alice-id", "user_name": "alice", "project_id": "p1", "requests": 3},
        {"issuer": "top", "user_id": "bob-id", "user_name": "bob", "project_id": "p2", "requests": 1}]
    # The request reading the counts is counted too, once it is answered.
    assert by_user(counts(client, admin_token))["root-id"] == 1


def test_a_handler_may_name_the_caller_and_a_failing_request_counts_once(middleware):
    client = Client(middleware, Response)
    client.get("/named")
    with pytest.raises(RuntimeError):
        client.get("/boom", headers={"X-Auth-Token": mint()})
    document = counts(client, mint(sub="root-id", roles=["admin"]))
    assert by_user(document) == {"mallory": 1}
    assert document["anonymous"] == 1  # /boom is public: the token sent is not looked at


def test_counts_are_only_for_admins_of_this_cells_identity(make_conf):
    conf = make_conf("top", "api", auth={"trusted_issuers": [
        {"issuer": "top!cell1", "jwks_url": "http://127.0.0.1:1/jwks", "roles": ["admin"]}]})
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}), revocations={})
    client = Client(AuthMiddleware(_app, conf, verifier=verifier, enforcer="compute"), Response)
    missing = client.get("/request-counts")
    assert missing.status_code == 401 and missing.json["error"]["message"].startswith("The request you have")
    assert client.get("/request-counts", headers={"X-Auth-Token": "junk"}).status_code == 401
    member = client.get("/request-counts", headers={"X-Auth-Token": mint(roles=["member"])})
    assert member.status_code == 403
    assert member.json["error"]["message"] == "Policy doesn't allow GET /request-counts to be performed."
    # An admin of another cell, trusted here for that role, still may not read this cell's counts.
    foreign = mint(iss="top!cell1", aud=["top"], roles=["admin"])
    assert client.get("/request-counts", headers={"X-Auth-Token": foreign}).status_code == 403
    own = mint(roles=["admin"])
    assert client.post("/request-counts", headers={"X-Auth-Token": own}).status_code == 405
    assert client.head("/request-counts", headers={"X-Auth-Token": own}).status_code == 200
    document = counts(client, own)
    assert document["service"] == "cloud-api"  # named after the daemon serving the compute table
    assert (document["anonymous"], document["refused"]) == (1, 1)
    rows = {(c["issuer"], c["user_id"]): c["requests"] for c in document["callers"]}
    assert rows == {("top", "u1"): 3, ("top!cell1", "u1"): 1}  # member, POST, HEAD; the foreign admin


@pytest.mark.parametrize(("table", "daemon"), [("compute", "cloud-api"), ("compute_cell", "cloud-api"),
                                               ("image", "cloud-images"), ("identity", "cloud-identity")])
def test_each_daemon_names_itself(conf, verifier, table, daemon):
    assert AuthMiddleware(_app, conf, verifier=verifier, enforcer=table).counts.service == daemon


def test_counting_from_many_threads_loses_nothing(middleware):
    tokens = [mint(sub=f"user-{i}") for i in range(4)]
    for token in tokens:  # verified once here, so the threads only look tokens up in the cache
        middleware.verifier.verify(token)

    def call(path: str, token: str | None) -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "x", "SERVER_PORT": "80",
                   "wsgi.url_scheme": "http"}
        if token:
            environ["HTTP_X_AUTH_TOKEN"] = token
        middleware(environ, lambda status, headers: None)

    def worker(n: int) -> None:
        for i in range(500):
            call("/servers", tokens[(n + i) % len(tokens)])
            call("/", None)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    document = middleware.counts.snapshot()
    assert document["anonymous"] == 8 * 500
    assert by_user(document) == {f"user-{i}": 1000 for i in range(4)}


def test_distinct_callers_are_capped():
    table = RequestCounts("cloud-test", max_callers=2)
    for name in ("a", "b", "c", "d", "a"):
        table.count(("top", None, name, None))
    document = table.snapshot()
    assert [(c["user_name"], c["requests"]) for c in document["callers"]] == [("a", 2), ("b", 1)]
    assert document["others"] == 2


def test_login_body_names_the_caller():
    assert login_caller("top", password_auth("alice", "pw", "demo")["auth"]) == {
        "issuer": "top", "user_id": None, "user_name": "alice", "project_id": None}
    by_id = {"identity": {"methods": ["password"], "password": {"user": {"id": "u9", "password": "x"}}},
             "scope": {"project": {"id": "p9"}}}
    assert login_caller("top", by_id) == {"issuer": "top", "user_id": "u9", "user_name": None,
                                          "project_id": "p9"}
    assert login_caller("top", {"identity": {"methods": ["token"], "token": {"id": "t"}}}) is None


# --- the identity app: logins attributed, the endpoint served -------------------------------------


def test_identity_logins_are_attributed_to_the_user_named(app, client, ids):
    assert issue(client, "demo", "wrong-password").status_code == 401
    assert issue(client, "nobody", "whatever").status_code == 401
    root = admin(client)
    user = demo(client)
    assert user.get("/v3/auth/tokens", headers={"X-Subject-Token": user.token}).status_code == 200
    assert client.get("/v3").status_code == 200
    assert client.get("/v3/users", headers={"X-Auth-Token": "junk"}).status_code == 401
    assert user.get("/request-counts").status_code == 403
    response = root.get("/request-counts")
    assert response.status_code == 200
    document = response.json
    assert document["service"] == "cloud-identity"
    rows = {(c["user_id"], c["user_name"], c["project_id"]): c["requests"] for c in document["callers"]}
    demo_id, demo_project = ids["users"]["demo"], ids["projects"]["demo"]
    # A failed login counts under the name the body gave; a successful one under the user and project.
    assert rows[(None, "demo", None)] == 1 and rows[(None, "nobody", None)] == 1
    assert rows[(demo_id, "demo", demo_project)] == 3  # its login, the token check, the refused counts
    assert rows[(ids["users"]["admin"], "admin", ids["projects"]["admin"])] == 1  # its login
    assert all(c["issuer"] == "top" for c in document["callers"])
    assert (document["anonymous"], document["refused"]) == (1, 1)
    assert DEMO_PASSWORD not in str(document)


class _Sink:
    """The scheduler and cells RPC clients: every cast is accepted and forgotten."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_compute_and_image_apps_serve_their_own_counts(conf, db, verifier, tmp_path):
    from api.app import create_app as create_compute
    from images.app import create_app as create_image
    from images.store.filesystem import FilesystemStore

    compute = create_compute(conf, db, verifier=verifier, scheduler_api=_Sink(), cells_api=_Sink(),
                             image_lookup=lambda *args: {}).test_client()
    store = FilesystemStore(str(tmp_path / "store"))
    image = create_image(conf, db, verifier=verifier, store=store).test_client()
    member, root = mint(roles=["member"]), mint(sub="root-id", name="root", roles=["admin"])
    assert compute.get("/v2.1/flavors", headers={"X-Auth-Token": member}).status_code == 200
    assert image.get("/v2/images", headers={"X-Auth-Token": member}).status_code == 200
    assert image.get("/v2/images", headers={"X-Auth-Token": "junk"}).status_code == 401
    # Each refusal in its service's own error format.
    refused = compute.get("/request-counts", headers={"X-Auth-Token": member})
    assert refused.status_code == 403 and refused.json["forbidden"]["message"].startswith("Policy doesn't")
    refused = image.get("/request-counts", headers={"X-Auth-Token": member})
    assert refused.status_code == 403 and refused.json["message"].startswith("Policy doesn't")
    # Not below the versioned prefix: there it is a path like any other.
    assert compute.get("/v2.1/request-counts", headers={"X-Auth-Token": root}).status_code == 404
    for client, daemon, refusals in ((compute, "cloud-api", 0), (image, "cloud-images", 1)):
        document = client.get("/request-counts", headers={"X-Auth-Token": root}).json
        assert document["service"] == daemon and document["refused"] == refusals
        assert by_user(document)["u1"] == 2  # its request, then the refused look at the counts
