"""The cell-local Compute API of a compute cell: its own database, for its service accounts."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import jwt
import pytest
import sqlalchemy as sa

from api.app import create_app
from cells.config import CellConfig
from cells.db.cell_models import ComputeNode, Instance, Service
from cells.db.engine import Database
from cells.db.types import utcnow
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from tests.conftest import write_cell_config
from tests.unit.api.conftest import IMAGE, KEY, KID, token

CELL = "top!cell1"
PUBLIC_URL = "http://cell1.example.test:8775"
PROJECT_A, PROJECT_B = "pa" + "0" * 30, "pb" + "0" * 30
SMALL = {"id": "1", "name": "m1.small", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
         "extra_specs": {}}
LARGE = {"id": "2", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 40, "ephemeral": 0,
         "swap": 1024, "extra_specs": {}}


def cell_token(roles: tuple[str, ...] = ("service",), *, issuer: str = CELL) -> dict[str, str]:
    """A token of ``issuer``'s identity meant for this cell (a service account by default)."""
    now = int(time.time())
    claims = {"iss": issuer, "aud": [CELL], "sub": "cell1-service", "name": "cell1-service",
              "domain_id": "default", "project_id": "svc" + "0" * 29, "project_name": "service",
              "project_domain_id": "default", "roles": list(roles), "methods": ["password"],
              "iat": now - 5, "exp": now + 600, "jti": uuid.uuid4().hex,
              "audit_ids": [uuid.uuid4().hex[:22]]}
    return {"X-Auth-Token": jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": KID})}


SERVICE = cell_token()


@pytest.fixture
def conf(tmp_path) -> CellConfig:
    data = {
        "cell": {"name": "cell1", "type": "compute",
                 "parent": {"path": "top", "broker_url": "fake:///top"}},
        "database": {"url": f"sqlite:///{tmp_path}/unused.db"},
        "broker": {"url": "fake:///cell1"},
        "state_dir": str(tmp_path / "cell1"),
        # The API cell is trusted (for the image cache's reads); its tokens still get nowhere here.
        "auth": {"identity_url": "http://127.0.0.1:1",
                 "trusted_issuers": [{"issuer": "top", "jwks_url": "http://127.0.0.1:1/jwks",
                                      "roles": ["admin", "service", "member"]}]},
        "api": {"listen": "127.0.0.1:18775", "public_url": PUBLIC_URL, "max_limit": 100},
    }
    return write_cell_config(str(tmp_path / "cell1.yaml"), data)


@pytest.fixture
def db(sqlite_db) -> Database:
    return sqlite_db("compute")


@pytest.fixture
def client(conf, db):
    verifier = TokenVerifier(conf, key_source=StaticKeySource({KID: KEY.public_key()}))
    return create_app(conf, db, verifier=verifier).test_client()


def add_instance(db: Database, project_id: str = PROJECT_A, *, created: dt.datetime | None = None,
                 **fields: Any) -> str:
    now = created or utcnow().replace(microsecond=0)
    values = {"uuid": str(uuid.uuid4()), "project_id": project_id, "user_id": "u-alice", "name": "vm",
              "host": "host-001", "vm_state": "active", "task_state": None, "power_state": 1,
              "flavor": SMALL, "vcpus": 1, "memory_mb": 512, "root_gb": 1, "image_ref": IMAGE,
              "metadata": {}, "version": 3, "created_at": now, "updated_at": now, "launched_at": now,
              "deleted": False, **fields}
    with db.session() as session:
        session.execute(sa.insert(Instance.__table__).values(**values))
    return str(values["uuid"])


def add_host(db: Database, host: str, *, seen_ago: float = 0.0, disabled: bool = False) -> None:
    now = utcnow()
    with db.session() as session:
        session.execute(sa.insert(ComputeNode.__table__).values(
            host=host, hypervisor_hostname=host, hypervisor_type="QEMU", cpu_model="EPYC", vcpus=16,
            memory_mb=65536, local_gb=500, vcpus_used=2, memory_mb_used=1024, local_gb_used=2,
            running_vms=2, hs06_per_core=12.5, updated_at=now))
        session.execute(sa.insert(Service.__table__).values(
            host=host, binary="cloud-compute", identity=str(uuid.uuid4()), disabled=disabled,
            last_seen_at=now - dt.timedelta(seconds=seen_ago), created_at=now))


@pytest.fixture
def servers(db) -> list[str]:
    """Five servers, newest last: three of project A on host-001, two of B on host-002 (one large)."""
    base = utcnow().replace(microsecond=0) - dt.timedelta(hours=1)
    ids = [add_instance(db, PROJECT_A, created=base + dt.timedelta(minutes=i), name=f"a{i}")
           for i in range(3)]
    ids.append(add_instance(db, PROJECT_B, created=base + dt.timedelta(minutes=3), host="host-002",
                            name="b0", vm_state="stopped", power_state=4))
    ids.append(add_instance(db, PROJECT_B, created=base + dt.timedelta(minutes=4), host="host-002",
                            name="b1", flavor=LARGE))
    add_instance(db, PROJECT_A, created=base, name="gone", deleted=True, vm_state="deleted",
                 deleted_at=base)
    return ids


# --- servers ---------------------------------------------------------------------------

def test_lists_every_project_newest_first(client, servers):
    resp = client.get("/v2.1/servers", headers=SERVICE)
    assert resp.status_code == 200, resp.json
    assert [s["id"] for s in resp.json["servers"]] == servers[::-1]
    assert resp.json["servers"][0]["links"][0]["href"] == f"{PUBLIC_URL}/v2.1/servers/{servers[-1]}"


def test_detail_in_compute_wire_format_with_host(client, servers):
    resp = client.get("/v2.1/servers/detail?all_tenants=1", headers=SERVICE)
    assert resp.status_code == 200
    doc = {s["id"]: s for s in resp.json["servers"]}[servers[4]]
    assert doc["tenant_id"] == PROJECT_B and doc["status"] == "ACTIVE"
    assert doc["flavor"]["id"] == "2"
    assert doc["OS-EXT-SRV-ATTR:host"] == "host-002"
    stopped = {s["id"]: s for s in resp.json["servers"]}[servers[3]]
    assert stopped["status"] == "SHUTOFF"


def test_paging_with_marker_and_limit(client, servers):
    first = client.get("/v2.1/servers?limit=2", headers=SERVICE)
    assert [s["id"] for s in first.json["servers"]] == [servers[4], servers[3]]
    next_href = first.json["servers_links"][0]["href"]
    assert f"marker={servers[3]}" in next_href
    second = client.get(f"/v2.1/servers?limit=2&marker={servers[3]}", headers=SERVICE)
    assert [s["id"] for s in second.json["servers"]] == [servers[2], servers[1]]
    bad = client.get(f"/v2.1/servers?marker={uuid.uuid4()}", headers=SERVICE)
    assert bad.status_code == 400 and "marker" in bad.json["badRequest"]["message"]


@pytest.mark.parametrize(("query", "expected"), [
    ("host=host-002", [4, 3]),
    ("project_id=" + PROJECT_A, [2, 1, 0]),
    ("tenant_id=" + PROJECT_B, [4, 3]),
    ("status=SHUTOFF", [3]),
    ("flavor=2", [4]),
])
def test_filters(client, servers, query, expected):
    resp = client.get(f"/v2.1/servers?{query}", headers=SERVICE)
    assert resp.status_code == 200
    assert [s["id"] for s in resp.json["servers"]] == [servers[i] for i in expected]


def test_changes_since_shows_recent_changes_and_deletions(client, db, servers):
    since = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    with db.session() as session:
        session.execute(sa.update(Instance.__table__).where(Instance.uuid == servers[1])
                        .values(updated_at=utcnow(), deleted=True, vm_state="deleted"))
    resp = client.get(f"/v2.1/servers/detail?changes-since={since.isoformat()}Z", headers=SERVICE)
    assert resp.status_code == 200, resp.json
    assert [(s["id"], s["status"]) for s in resp.json["servers"]] == [(servers[1], "DELETED")]


def test_show_and_unknown_server(client, servers):
    resp = client.get(f"/v2.1/servers/{servers[0]}", headers=SERVICE)
    assert resp.status_code == 200 and resp.json["server"]["name"] == "a0"
    missing = client.get(f"/v2.1/servers/{uuid.uuid4()}", headers=SERVICE)
    assert missing.status_code == 404
    assert "could not be found" in missing.json["itemNotFound"]["message"]


# --- flavors, hypervisors, services ----------------------------------------------------------

def test_flavors_are_those_the_instances_carry(client, servers):
    listed = client.get("/v2.1/flavors", headers=SERVICE)
    assert [f["id"] for f in listed.json["flavors"]] == ["1", "2"]
    large = client.get("/v2.1/flavors/2", headers=SERVICE).json["flavor"]
    assert (large["vcpus"], large["ram"], large["disk"], large["swap"]) == (4, 8192, 40, 1024)
    detail = client.get("/v2.1/flavors/detail", headers=SERVICE).json["flavors"]
    assert detail[0]["name"] == "m1.small"
    assert client.get("/v2.1/flavors/9", headers=SERVICE).status_code == 404


def test_hypervisors_and_services_of_the_cell(client, db, conf):
    add_host(db, "host-001")
    add_host(db, "host-002", seen_ago=conf.service_down_time * 2, disabled=True)
    listed = client.get("/v2.1/os-hypervisors", headers=SERVICE).json["hypervisors"]
    assert [(h["id"], h["state"], h["status"]) for h in listed] == [
        (f"{CELL}@host-001", "up", "enabled"), (f"{CELL}@host-002", "down", "disabled")]
    shown = client.get(f"/v2.1/os-hypervisors/{CELL}@host-001", headers=SERVICE).json["hypervisor"]
    assert (shown["vcpus"], shown["running_vms"], shown["cell_path"]) == (16, 2, CELL)
    assert '"hs06_per_core": 12.5' in shown["cpu_info"]
    assert client.get("/v2.1/os-hypervisors/detail", headers=SERVICE).status_code == 200
    assert client.get("/v2.1/os-hypervisors/nope", headers=SERVICE).status_code == 404
    services = client.get("/v2.1/os-services?host=host-002", headers=SERVICE).json["services"]
    assert [(s["binary"], s["state"], s["status"]) for s in services] == [
        ("cloud-compute", "down", "disabled")]


# --- who may call ------------------------------------------------------------------

def test_cell_admin_may_read(client, servers):
    assert client.get("/v2.1/servers", headers=cell_token(("admin",))).status_code == 200


def test_cell_member_without_service_role_refused(client, servers):
    resp = client.get("/v2.1/servers", headers=cell_token(("member",)))
    assert resp.status_code == 403


def test_api_cell_tokens_refused_even_when_trusted(client, servers):
    # An API cell admin with the service role passes the policy table; the issuer check refuses it.
    resp = client.get("/v2.1/servers", headers={"X-Auth-Token": token(None, ("admin", "service"),
                                                                      aud=CELL)})
    assert resp.status_code == 403
    assert "tokens of cell top!cell1's identity service only" in resp.json["forbidden"]["message"]
    # A user of the API cell: refused by the policy table.
    member = client.get("/v2.1/servers", headers={"X-Auth-Token": token(PROJECT_A, aud=CELL)})
    assert member.status_code == 403 and member.json["forbidden"]["message"]
    # A token meant for the API cell itself, even an admin's, is refused too.
    top_admin = client.get("/v2.1/servers", headers={"X-Auth-Token": token(None, ("admin",))})
    assert top_admin.status_code == 403
    assert "use the API cell's Compute API" in top_admin.json["forbidden"]["message"]


def test_another_cells_service_token_refused(client, servers):
    resp = client.get("/v2.1/servers", headers=cell_token(issuer="top!cell2"))
    assert resp.status_code == 401
    assert "top!cell2" in resp.json["unauthorized"]["message"]


def test_no_token_refused_versions_public(client):
    assert client.get("/v2.1/servers").status_code == 401
    assert client.get("/v2.1").status_code == 200
    assert client.get("/").json["versions"][0]["id"] == "v2.1"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v2.1/servers"), ("DELETE", "/v2.1/servers/x"), ("POST", "/v2.1/servers/x/action"),
    ("POST", "/v2.1/flavors"), ("PUT", "/v2.1/os-services/x"),
])
def test_writes_refused_with_a_message(client, servers, method, path):
    resp = client.open(path, method=method, headers=SERVICE, json={})
    assert resp.status_code == 405
    assert "read-only" in resp.json["badMethod"]["message"]
    assert resp.headers["Allow"] == "GET, HEAD"


def test_every_route_is_in_the_policy_table(client):
    from identity import policy

    table = {f"{r.method} {r.pattern}" for r in policy.load(None).services["compute_cell"]}
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"{method} {rule.rule}" in table, rule.rule
