"""Snapshot data from compute cells: what the master lets a cell's service token write, and the relay.

A cell's service token is trusted for reads; its one write is the data of
(or the removal of) a queued snapshot image of an instance of its own cell.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cells.service import WsgiServer
from tests.unit.images.conftest import PROJECT_A, PROJECT_B, Signer, cell_config

CELL1, CELL2 = "top!cell1", "top!cell2"
OCTETS = {"Content-Type": "application/octet-stream"}
TRUSTED = [{"issuer": cell, "jwks_url": "http://127.0.0.1:9/v3/OS-JWKS", "roles": ["service"]}
           for cell in (CELL1, CELL2)]


def cell_token(signer: Signer, cell: str = CELL1, **kwargs: Any) -> dict[str, str]:
    """A token of the cell's service account, as the master receives it (audience: both)."""
    return signer.headers(issuer=cell, audience=[cell, "top"], project_id="service",
                          roles=["service"], **kwargs)


def snapshot_body(**extra: Any) -> dict[str, Any]:
    """What the Compute API creates for a snapshot of an instance of cell 1 (owned by project A)."""
    return {"name": "snap", "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
            "owner": PROJECT_A, "image_type": "snapshot", "instance_uuid": str(uuid.uuid4()),
            "instance_cell": CELL1, **extra}


def create(client, headers, body) -> str:
    response = client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


@pytest.fixture
def master_app(master):
    app, _conf, _store = master(trusted=TRUSTED)
    return app


def test_a_cell_uploads_its_snapshot_and_the_image_is_the_owners(master_app, signer):
    client = master_app.test_client()
    image_id = create(client, signer.headers(), snapshot_body())
    data = os.urandom(70_000)
    response = client.put(f"/v2/images/{image_id}/file", data=data, headers={**cell_token(signer), **OCTETS})
    assert response.status_code == 204, response.get_json()
    image = client.get(f"/v2/images/{image_id}", headers=signer.headers()).get_json()
    assert (image["status"], image["owner"], image["size"]) == ("active", PROJECT_A, len(data))
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    usage = client.get("/v2/info/usage", headers=signer.headers()).get_json()["usage"]
    assert usage["image_snapshot_size_total"]["usage"] == len(data)
    # Once it has data, the cell can neither write it again nor delete it.
    again = client.put(f"/v2/images/{image_id}/file", data=b"x", headers={**cell_token(signer), **OCTETS})
    assert again.status_code == 403
    assert client.delete(f"/v2/images/{image_id}", headers=cell_token(signer)).status_code == 403
    assert client.get(f"/v2/images/{image_id}", headers=signer.headers()).get_json()["status"] == "active"


def test_a_cell_deletes_a_snapshot_that_failed(master_app, signer):
    client = master_app.test_client()
    image_id = create(client, signer.headers(), snapshot_body())
    assert client.delete(f"/v2/images/{image_id}", headers=cell_token(signer)).status_code == 204
    assert client.get(f"/v2/images/{image_id}", headers=signer.headers()).status_code == 404


@pytest.mark.parametrize("why, body, token", [
    ("not a snapshot", {"image_type": "backup"}, {}),
    ("no instance cell", {"instance_cell": None}, {}),
    ("another cell's snapshot", {"instance_cell": CELL2}, {}),
    ("the master's own service account", {}, {"issuer": "top"}),
])
def test_a_cell_token_writes_nothing_else(master_app, signer, why, body, token):
    client = master_app.test_client()
    fields = {k: v for k, v in snapshot_body(**body).items() if v is not None}
    image_id = create(client, signer.headers(), fields)
    issuer = token.get("issuer", CELL1)
    headers = (signer.headers(issuer="top", project_id="service", roles=["service"]) if issuer == "top"
               else cell_token(signer))
    upload = client.put(f"/v2/images/{image_id}/file", data=b"evil", headers={**headers, **OCTETS})
    assert upload.status_code == 403, why
    assert client.delete(f"/v2/images/{image_id}", headers=headers).status_code == 403, why
    assert client.get(f"/v2/images/{image_id}", headers=signer.headers()).get_json()["status"] == "queued"


def test_a_cell_token_naming_the_owner_project_is_no_owner(master_app, signer):
    client = master_app.test_client()
    image_id = create(client, signer.headers(), {"name": "mine", "disk_format": "raw",
                                                 "container_format": "bare"})
    # Roles of a cell's tokens other than service count for nothing at the master.
    forged = signer.headers(issuer=CELL1, audience=[CELL1, "top"], project_id=PROJECT_A,
                            roles=["service", "member", "admin"])
    upload = client.put(f"/v2/images/{image_id}/file", data=b"x", headers={**forged, **OCTETS})
    assert upload.status_code == 403
    assert client.delete(f"/v2/images/{image_id}", headers=forged).status_code == 403
    assert client.patch(f"/v2/images/{image_id}", json=[], headers={
        **forged, "Content-Type": "application/openstack-images-v2.1-json-patch"}).status_code == 403
    assert client.post("/v2/images", json=snapshot_body(), headers=forged).status_code == 403


def test_the_owners_snapshot_quota_applies_while_a_cell_streams(master, signer):
    app, _conf, store_dir = master(trusted=TRUSTED)
    client = app.test_client()
    admin = signer.headers(roles=["admin"])
    assert client.put(f"/v2/quotas/{PROJECT_A}", json={"quota": {"snapshot_bytes": 1000}},
                      headers=admin).status_code == 200
    image_id = create(client, signer.headers(), snapshot_body())
    refused = client.put(f"/v2/images/{image_id}/file", data=b"x" * 1001,
                         headers={**cell_token(signer), **OCTETS})
    assert refused.status_code == 413 and "snapshot storage quota" in refused.get_json()["message"]
    image = client.get(f"/v2/images/{image_id}", headers=signer.headers()).get_json()
    assert image["status"] == "queued"
    assert [f for _r, _d, files in os.walk(store_dir) for f in files] == []
    # Another project's quota is its own.
    theirs = create(client, signer.headers(project_id=PROJECT_B), snapshot_body(owner=PROJECT_B))
    assert client.put(f"/v2/images/{theirs}/file", data=b"x" * 1001,
                      headers={**cell_token(signer), **OCTETS}).status_code == 204


# --- through a compute cell's cache ---------------------------------------------------


def _serve(name: str, app: Any, conf: Any) -> tuple[WsgiServer, str]:
    server = WsgiServer(name, app, conf.images)
    server.start()
    host, port = server.server.bind_addr
    return server, f"http://{host}:{port}"


@pytest.fixture
def relay(sqlite_db, tmp_path, signer) -> Iterator[dict[str, Any]]:
    """The master and cell 1's cache, both on loopback; the cache writes with cell 1's token."""
    from images.app import create_app

    master_db = sqlite_db("api")
    master_conf = cell_config(master_db.url, str(tmp_path / "master"), trusted=TRUSTED)
    master_server, master_url = _serve("master", create_app(
        master_conf, db=master_db, verifier=signer.verifier(master_conf)), master_conf)
    cache_db = sqlite_db("compute")
    cache_conf = cell_config(cache_db.url, str(tmp_path / "cache"), name="cell1", parent="top",
                             master_url=master_url)
    cache_app = create_app(cache_conf, db=cache_db, verifier=signer.verifier(cache_conf),
                           master_token=lambda: cell_token(signer)["X-Auth-Token"])
    cache_server, cache_url = _serve("cache", cache_app, cache_conf)
    agent = signer.headers(issuer=CELL1, project_id="service", roles=["service"])
    try:
        yield {"master": master_url, "cache": cache_url, "agent": agent,
               "cache_master": cache_app.extensions["images"].cache.master,
               "image_cache": cache_app.extensions["images"].cache}
    finally:
        cache_server.stop()
        master_server.stop()


def _master_create(relay: dict[str, Any], signer: Signer, body: dict[str, Any]) -> str:
    response = requests.post(relay["master"] + "/v2/images", json=body, headers=signer.headers(), timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_agent_uploads_through_its_cells_cache(relay, signer):
    image_id = _master_create(relay, signer, snapshot_body())
    cache, agent = relay["cache"], relay["agent"]
    # The cell's copy of the queued image (an agent looked at it) must not stay queued.
    seen = requests.get(f"{cache}/v2/images/{image_id}", headers=agent, timeout=10)
    assert seen.json()["status"] == "queued"
    data = os.urandom(3 * 2**20 + 11)
    response = requests.put(f"{cache}/v2/images/{image_id}/file", data=data, timeout=30,
                            headers={**agent, **OCTETS, "X-OpenStack-Image-Size": str(len(data))})
    assert response.status_code == 204, response.text
    shown = requests.get(f"{cache}/v2/images/{image_id}", headers=agent, timeout=10).json()
    assert shown["status"] == "active" and shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    at_master = requests.get(f"{relay['master']}/v2/images/{image_id}", headers=signer.headers(), timeout=10)
    assert at_master.json()["os_hash_value"] == shown["os_hash_value"]
    # The data comes back through the cache as any image's does.
    fetched = requests.get(f"{cache}/v2/images/{image_id}/file", headers=agent, timeout=30)
    assert fetched.content == data


def test_chunked_upload_and_delete_through_the_cache(relay, signer):
    cache, agent = relay["cache"], relay["agent"]
    image_id = _master_create(relay, signer, snapshot_body())
    chunks = [os.urandom(100_000) for _ in range(5)]
    response = requests.put(f"{cache}/v2/images/{image_id}/file", data=iter(chunks),
                            headers={**agent, **OCTETS}, timeout=30)
    assert response.status_code == 204, response.text
    failed = _master_create(relay, signer, snapshot_body())
    assert requests.delete(f"{cache}/v2/images/{failed}", headers=agent, timeout=10).status_code == 204
    assert requests.get(f"{relay['master']}/v2/images/{failed}", headers=signer.headers(),
                        timeout=10).status_code == 404


def test_the_cache_relays_the_masters_refusals_and_only_for_service_accounts(relay, signer):
    cache, agent = relay["cache"], relay["agent"]
    theirs = _master_create(relay, signer, snapshot_body(instance_cell=CELL2))
    refused = requests.put(f"{cache}/v2/images/{theirs}/file", data=b"x", headers={**agent, **OCTETS},
                           timeout=10)
    assert refused.status_code == 403 and "not permitted" in refused.json()["message"]
    assert requests.delete(f"{cache}/v2/images/{theirs}", headers=agent, timeout=10).status_code == 403
    mine = _master_create(relay, signer, snapshot_body())
    user = signer.headers(issuer=CELL1, project_id=PROJECT_A, roles=["member"])
    assert requests.put(f"{cache}/v2/images/{mine}/file", data=b"x", headers={**user, **OCTETS},
                        timeout=10).status_code == 403
    assert requests.delete(f"{cache}/v2/images/{mine}", headers=user, timeout=10).status_code == 403
    assert requests.delete(f"{cache}/v2/images/{mine}", timeout=10).status_code == 401
    # Everything else stays read-only.
    assert requests.post(f"{cache}/v2/images", json={}, headers=agent, timeout=10).status_code == 405
    assert requests.patch(f"{cache}/v2/images/{mine}", json=[], headers=agent, timeout=10).status_code == 405
    at_master = requests.get(f"{relay['master']}/v2/images/{mine}", headers=signer.headers(), timeout=10)
    assert at_master.json()["status"] == "queued"


def test_a_cell_token_the_master_refuses_is_renewed_and_the_agent_told_to_retry(relay, signer):
    # The cell's token went stale at the master (revoked, its key retired): that is not the
    # agent's token failing, so the cache must not pass the 401 on (the agent would give the
    # snapshot up) but renew its own token and answer 503 (the agent retries later).
    client = relay["cache_master"]
    stale = signer.token(issuer="top!cell9", audience=["top!cell9", "top"], project_id="service",
                         roles=["service"])
    renewed: list[bool] = []
    client._token = lambda: cell_token(signer)["X-Auth-Token"] if renewed else stale
    client._invalidate = lambda: renewed.append(True)
    cache, agent = relay["cache"], relay["agent"]
    image_id = _master_create(relay, signer, snapshot_body())
    data = os.urandom(10_000)
    first = requests.put(f"{cache}/v2/images/{image_id}/file", data=data, headers={**agent, **OCTETS},
                         timeout=10)
    assert first.status_code == 503, first.text
    assert renewed
    again = requests.put(f"{cache}/v2/images/{image_id}/file", data=data, headers={**agent, **OCTETS},
                         timeout=10)
    assert again.status_code == 204, again.text


def test_the_relay_serves_only_its_own_cells_service_accounts():
    from cells.context import RequestContext
    from cells.exception import Forbidden
    from images import relay as relay_mod

    relay_mod._check_caller(RequestContext(roles=["service"], issuer=CELL1), CELL1)
    for ctx in (RequestContext(roles=["service"], issuer=CELL2),  # a cell this cache trusts, not itself
                RequestContext(roles=["service"], issuer=None),
                RequestContext(roles=["admin"], issuer=CELL1)):
        with pytest.raises(Forbidden):
            relay_mod._check_caller(ctx, CELL1)


class _AgentTokens:
    def __init__(self, headers: dict[str, str]) -> None:
        self.token = headers["X-Auth-Token"]

    def get(self) -> str:
        return self.token

    def invalidate(self) -> None:
        pass


def test_the_agent_never_gives_up_a_snapshot_the_cell_has_not_seen_finish(relay, signer, tmp_path,
                                                                          monkeypatch):
    from cells.exception import ServiceUnavailable
    from compute_agent import image_upload
    from compute_agent.errors import ImageInvalid, ImageUnavailable
    from compute_agent.images import ImageClient

    client = ImageClient(relay["cache"], _AgentTokens(relay["agent"]))
    disk = tmp_path / "snap.qcow2"
    disk.write_bytes(os.urandom(200_000))
    image_id = _master_create(relay, signer, snapshot_body())
    # The cell holds a copy of the image, queued.
    requests.get(f"{relay['cache']}/v2/images/{image_id}", headers=relay["agent"], timeout=10)

    # The master took the data but the cell's copy could not be refreshed: retry later, do not fail.
    cache = relay["image_cache"]
    real_refresh = cache.refresh
    def unreachable(_image_id: str) -> None:
        raise ServiceUnavailable("master away")

    monkeypatch.setattr(cache, "refresh", unreachable)
    with pytest.raises(ImageUnavailable, match="still queued"):
        image_upload.upload(client, image_id, str(disk))
    monkeypatch.setattr(cache, "refresh", real_refresh)

    # The retry is refused (the master has the data); the cell refreshes its copy, the file's hash matches.
    image_upload.upload(client, image_id, str(disk))
    # Other bytes than those stored are refused as data that is not the snapshot's.
    other = tmp_path / "other.qcow2"
    other.write_bytes(os.urandom(1000))
    with pytest.raises(ImageInvalid, match="SHA-512 differs"):
        image_upload.upload(client, image_id, str(other))
    client.close()
