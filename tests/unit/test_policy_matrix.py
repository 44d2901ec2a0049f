"""The policy table over every API route of the compute, image and identity apps.

The real apps are built on SQLite with real tokens issued by the identity
app (signed with its key repository). Every route of every app must have an
entry in the table; then every route is called by every persona, on
project A's resources, and must answer 403 exactly when the table denies it.
Each write route is called on a fresh copy of the database, so one route's
writes (a delete, a revoked grant) never change what another route sees.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import pytest

from api.app import create_app as create_compute
from cells.context import RequestContext
from cells.db import migrate
from cells.db.engine import Database
from cells.db.identity_models import USER_PROJECT, Assignment, Group, GroupMembership, Project, User
from identity import policy
from identity.app import create_app as create_identity
from identity.auth import LockoutPolicy
from identity.bootstrap import bootstrap
from identity.keys import KeyRepository, RepositoryKeySource
from identity.middleware import TokenVerifier
from identity.passwords import hash_password
from identity.policy_language import Always
from identity.revocation_local import DatabaseRevocations
from identity.service import EXTENSION
from images.app import create_app as create_image
from images.store.filesystem import FilesystemStore
from tests.conftest import write_cell_config
from tests.unit.api.conftest import add_capacity, add_flavor, add_instance

PASSWORD = "matrix-secret-1"
# Who calls, in this order: admin last, so its writes (which succeed) come after everyone else's try.
PERSONAS = ("anonymous", "unscoped", "reader_a", "member_b", "service", "member_a", "admin")
SERVICES = ("compute", "image", "identity")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
POLICY_REFUSAL = "Policy doesn't allow"
_PARAM = re.compile(r"<(?:[^<>:]+:)?(\w+)>")


class Sink:
    """The scheduler and cells RPC clients: every cast is accepted and forgotten."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def image_lookup(image_id: str, project_id: str | None, token: str) -> dict[str, Any]:
    return {"id": image_id, "status": "active", "disk_format": "qcow2", "container_format": "bare",
            "min_disk": 0, "min_ram": 0, "size": 1, "visibility": "public"}


@dataclass
class Cloud:
    conf: Any
    template: Path
    tmp: Path
    tokens: dict[str, str | None] = field(default_factory=dict)
    contexts: dict[str, RequestContext | None] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def copy(self, name: str) -> Database:
        """A fresh copy of the template database (SQLite's backup: the WAL's pages included)."""
        path = self.tmp / f"{name}.db"
        with closing(sqlite3.connect(self.template)) as source, closing(sqlite3.connect(path)) as target:
            source.backup(target)
        return Database(f"sqlite:///{path}")

    def app(self, service: str, name: str) -> flask.Flask:
        """One service's app on a fresh copy of the template database."""
        return build(self.conf, self.copy(name), self.tmp / f"store-{name}", (service,))[service]

    def apps(self, name: str) -> dict[str, flask.Flask]:
        """The three apps on a fresh copy of the template database."""
        return build(self.conf, self.copy(name), self.tmp / f"store-{name}")


def build(conf: Any, db: Database, store_dir: Path,
          services: tuple[str, ...] = SERVICES) -> dict[str, flask.Flask]:
    """The apps of ``services``; tokens are checked with the keys and revocations of the identity app."""
    verifier = TokenVerifier(conf, RepositoryKeySource(KeyRepository(conf.key_repository)),
                             revocations={conf.path: DatabaseRevocations(conf.path, db)})
    apps: dict[str, flask.Flask] = {}
    if "identity" in services:
        apps["identity"] = create_identity(conf, db, lockout=LockoutPolicy(attempts=0))
    if "compute" in services:
        apps["compute"] = create_compute(conf, db, verifier=verifier, scheduler_api=Sink(), cells_api=Sink(),
                                         image_lookup=image_lookup)
    if "image" in services:
        apps["image"] = create_image(conf, db, verifier=verifier, store=FilesystemStore(str(store_dir)))
    return apps


def _seed(db: Database, ids: dict[str, Any]) -> dict[str, str]:
    """Projects A and B, their users, a group and a user with no project; returns their ids."""
    made = {"alpha": uuid.uuid4().hex, "beta": uuid.uuid4().hex, "group": uuid.uuid4().hex}
    password_hash = hash_password(PASSWORD, 10)
    with db.session() as session:
        for name in ("alpha", "beta"):
            session.add(Project(id=made[name], domain_id="default", name=name, enabled=True))
        session.flush()
        for user, project, role in (("alice", "alpha", "member"), ("rita", "alpha", "reader"),
                                    ("bob", "beta", "member"), ("carl", None, None)):
            made[user] = uuid.uuid4().hex
            session.add(User(id=made[user], domain_id="default", name=user, password_hash=password_hash,
                             enabled=True, default_project_id=made[project] if project else None))
            session.flush()
            if project and role:
                session.add(Assignment(type=USER_PROJECT, actor_id=made[user], target_id=made[project],
                                       role_id=ids["roles"][role], inherited=False))
        session.add(Group(id=made["group"], domain_id="default", name="alpha-team"))
        session.flush()
        session.add(GroupMembership(group_id=made["group"], user_id=made["alice"]))
    return made


def _login(client: Any, user: str, project: str | None) -> str:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": PASSWORD}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    response = client.post("/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.json
    return response.headers["X-Subject-Token"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    tmp = tmp_path_factory.mktemp("matrix")
    template = tmp / "template.db"
    url = f"sqlite:///{template}"
    conf = write_cell_config(str(tmp / "top.yaml"), {
        "cell": {"name": "top", "type": "api", "children": [{"name": "cell1", "broker_url": "fake:///c1"}]},
        "database": {"url": url}, "broker": {"url": "fake:///top"}, "state_dir": str(tmp / "state"),
        "auth": {"identity_url": "http://127.0.0.1:1"},
        "identity": {"listen": "127.0.0.1:1", "public_url": "http://127.0.0.1:1", "password_hash_cost": 10,
                     "key_repository": str(tmp / "keys")},
        "api": {"listen": "127.0.0.1:2", "public_url": "http://127.0.0.1:2"},
        "images": {"listen": "127.0.0.1:3", "public_url": "http://127.0.0.1:3"},
    })
    migrate.upgrade(url, "api")
    db = Database(url)
    ids = bootstrap(conf, db, PASSWORD, None, {"top-service": PASSWORD})
    made = _seed(db, ids)
    add_flavor(db, "1", "m1.small")
    server = add_instance(db, made["alpha"])
    add_capacity(db, "top!cell1", [{"name": "host-001", "state": "up", "status": "enabled"}])
    apps = build(conf, db, tmp / "store-template")
    identity = apps["identity"].test_client()
    found = Cloud(conf, template, tmp)
    logins = {"unscoped": ("carl", None), "reader_a": ("rita", "alpha"), "member_b": ("bob", "beta"),
              "service": ("top-service", "service"), "member_a": ("alice", "alpha"),
              "admin": ("admin", "admin")}
    found.tokens = {"anonymous": None, **{p: _login(identity, *who) for p, who in logins.items()}}
    verifier = apps["identity"].extensions[EXTENSION].verifier
    found.contexts = {p: verifier.verify(t) if t else None for p, t in found.tokens.items()}
    assert found.contexts["unscoped"] is not None and found.contexts["unscoped"].project_id is None
    created = apps["image"].test_client().post("/v2/images", json={"name": "alpha-image"},
                                               headers={"X-Auth-Token": found.tokens["member_a"]})
    assert created.status_code == 201, created.json
    found.params = {"server_id": server, "flavor_id": "1", "hypervisor_id": "top!cell1@host-001",
                    "image_id": created.json["id"], "user_id": made["alice"], "project_id": made["alpha"],
                    "tenant_id": made["alpha"],
                    "domain_id": "default", "group_id": made["group"], "role_id": ids["roles"]["member"],
                    "application_credential_id": uuid.uuid4().hex}
    db.dispose()
    return found


def app_routes(app: flask.Flask) -> list[tuple[str, str]]:
    """(method, Flask rule) of every route; HEAD (follows GET) and OPTIONS (automatic) aside."""
    return sorted({(method, rule.rule) for rule in app.url_map.iter_rules()
                   for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}})


def concrete(rule: str, params: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: params.get(m[1], f"no-such-{m[1]}"), rule)


@dataclass(frozen=True)
class Outcome:
    service: str
    method: str
    rule: str
    persona: str
    allowed: bool  # what the table says
    status: int  # what the app answered
    by_policy: bool  # a 403 of the policy middleware, not of a handler (say, "disable it first")

    @property
    def where(self) -> str:
        return f"{self.service} {self.method} {self.rule} as {self.persona}: {self.status}"


@pytest.fixture(scope="module")
def matrix(cloud) -> Iterator[list[Outcome]]:
    """Every route of every app called by every persona; each write route on fresh data."""
    table = policy.load(cloud.conf.policy_file)
    outcomes: list[Outcome] = []
    readers = cloud.apps("reads")  # reads change nothing: they share one copy
    for service in SERVICES:
        enforcer = table.enforcer(service)
        for n, (method, rule) in enumerate(app_routes(readers[service])):
            app = cloud.app(service, f"{service}-{n}") if method in WRITES else readers[service]
            client = app.test_client()
            path = concrete(rule, cloud.params)
            match = enforcer.match(method, path)
            if match is None or match.route.pattern != rule:
                continue  # reported by test_every_route_is_in_the_table
            for persona in PERSONAS:
                token, ctx = cloud.tokens[persona], cloud.contexts[persona]
                allowed = match.route.public if ctx is None else enforcer.allows(match, ctx)
                headers = {"X-Auth-Token": token} if token else {}
                body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                response = client.open(path, method=method, headers=headers, **body)
                by_policy = response.status_code == 403 and POLICY_REFUSAL in response.get_data(as_text=True)
                outcomes.append(Outcome(service, method, rule, persona, allowed, response.status_code,
                                        by_policy))
    yield outcomes


def test_every_route_is_in_the_table(cloud):
    """A route added to an app without a policy entry fails here (and is denied in service)."""
    table = policy.load(cloud.conf.policy_file)
    apps = cloud.apps("coverage")
    missing = []
    for service in SERVICES:
        enforcer = table.enforcer(service)
        for method, rule in app_routes(apps[service]):
            match = enforcer.match(method, concrete(rule, cloud.params))
            if enforcer.route(method, rule) is None or match is None or match.route.pattern != rule:
                missing.append(f'{service}: "{method} {rule}"')
    assert not missing, "routes without a policy entry:\n" + "\n".join(missing)


def test_403_exactly_when_the_table_denies(matrix):
    """Handlers may still refuse for reasons of their own (403 "disable the domain first"), never by role."""
    assert len(matrix) >= len(PERSONAS) * 40
    wrong = []
    for outcome in matrix:
        if outcome.persona == "anonymous" and not outcome.allowed:
            if outcome.status != 401:
                wrong.append(f"{outcome.where} (expected 401: no token)")
        elif outcome.allowed and (outcome.status == 401 or outcome.by_policy):
            wrong.append(f"{outcome.where} (the table allows it)")
        elif not outcome.allowed and not outcome.by_policy:
            wrong.append(f"{outcome.where} (the table denies it)")
    assert not wrong, "\n".join(wrong)


def _status(matrix: list[Outcome], service: str, method: str, rule: str, persona: str) -> int:
    (found,) = [o.status for o in matrix if (o.service, o.method, o.rule, o.persona) ==
                (service, method, rule, persona)]
    return found


def test_reader_changes_nothing(matrix, cloud):
    table = policy.load(cloud.conf.policy_file)
    enforcers = {service: table.enforcer(service) for service in SERVICES}
    changed = []
    for o in matrix:
        route = enforcers[o.service].route(o.method, o.rule)
        open_to_all = route is None or route.public or isinstance(route.check, Always)
        if o.persona == "reader_a" and o.method in WRITES and not open_to_all and not o.by_policy:
            changed.append(o.where)
    assert not changed, "\n".join(changed)
    assert _status(matrix, "compute", "POST", "/v2.1/servers", "reader_a") == 403
    assert _status(matrix, "compute", "GET", "/v2.1/servers/<server_id>", "reader_a") == 200
    assert _status(matrix, "image", "DELETE", "/v2/images/<image_id>", "reader_a") == 403
    assert _status(matrix, "image", "GET", "/v2/images/<image_id>", "reader_a") == 200


def test_member_of_b_never_sees_project_a(matrix, cloud):
    for method, rule in (("GET", "/v2.1/servers/<server_id>"), ("DELETE", "/v2.1/servers/<server_id>"),
                         ("POST", "/v2.1/servers/<server_id>/action")):
        assert _status(matrix, "compute", method, rule, "member_b") in (400, 404), rule
    assert _status(matrix, "compute", "GET", "/v2.1/servers/<server_id>", "member_b") == 404
    assert _status(matrix, "compute", "GET", "/v2.1/os-simple-tenant-usage/<tenant_id>", "member_b") == 403
    for method, rule in (("GET", "/v2/images/<image_id>"), ("GET", "/v2/images/<image_id>/file"),
                         ("DELETE", "/v2/images/<image_id>")):
        assert _status(matrix, "image", method, rule, "member_b") == 404, rule
    client = cloud.apps("listing")["compute"].test_client()
    listed = client.get("/v2.1/servers", headers={"X-Auth-Token": cloud.tokens["member_b"]})
    assert listed.status_code == 200 and listed.json["servers"] == []
    mine = client.get("/v2.1/servers", headers={"X-Auth-Token": cloud.tokens["member_a"]})
    assert [s["id"] for s in mine.json["servers"]] == [cloud.params["server_id"]]
    # Identity routes about A's project and A's user are refused outright.
    refused = [o.where for o in matrix if o.service == "identity" and o.persona == "member_b"
               and ("<project_id>" in o.rule or "<user_id>" in o.rule) and not o.by_policy]
    assert not refused, "\n".join(refused)


def test_personas(matrix):
    # Members and readers read their own project; a user reads itself; the admin may do anything
    # but act as someone else.
    for persona in ("member_a", "reader_a"):
        assert _status(matrix, "identity", "GET", "/v3/projects/<project_id>", persona) == 200, persona
    assert _status(matrix, "identity", "GET", "/v3/users/<user_id>", "member_a") == 200
    assert _status(matrix, "identity", "GET", "/v3/users/<user_id>", "reader_a") == 403
    assert _status(matrix, "identity", "GET", "/v3/users", "member_a") == 403
    assert _status(matrix, "identity", "GET", "/v3/auth/projects", "unscoped") == 200
    assert _status(matrix, "compute", "GET", "/v2.1/servers", "unscoped") == 403
    admin_refused = {(o.method, o.rule) for o in matrix if o.persona == "admin" and o.by_policy}
    assert admin_refused <= {("POST", "/v3/users/<user_id>/password"),
                             ("POST", "/v3/users/<user_id>/application_credentials")}
    # Cell service accounts read servers, flavors and every image, and change nothing.
    for service, rule in (("compute", "/v2.1/servers"), ("compute", "/v2.1/flavors"),
                          ("image", "/v2/images/<image_id>"), ("image", "/v2/images/<image_id>/file")):
        assert _status(matrix, service, "GET", rule, "service") in (200, 204), rule
    # Their one write is a compute agent's snapshot data or its removal, which the handler allows
    # for a queued snapshot of an instance of the token's cell only (test_snapshot_uploads.py):
    # the image here is none, so it is refused all the same.
    snapshot_routes = {("DELETE", "/v2/images/<image_id>"), ("PUT", "/v2/images/<image_id>/file")}
    service_writes = [o.where for o in matrix if o.persona == "service" and o.service != "identity"
                      and o.method in WRITES and not o.by_policy
                      and (o.method, o.rule) not in snapshot_routes]
    assert not service_writes, "\n".join(service_writes)
    for method, rule in snapshot_routes:
        assert _status(matrix, "image", method, rule, "service") in (403, 415), rule
    assert _status(matrix, "compute", "GET", "/v2.1/os-hypervisors", "member_a") == 403
    assert _status(matrix, "compute", "GET", "/v2.1/os-hypervisors", "admin") == 200
