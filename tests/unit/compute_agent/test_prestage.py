"""Pre-staging on the hosts: the peer image server, the agent's verified copies, and a whole run.

Simulated hosts of one compute cell with its real identity and image
services; the scheduler's run drives them over the in-process broker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cells.context import RequestContext
from compute_agent import prestage
from compute_agent.agent import AgentGroup
from compute_agent.images import ImageClient
from compute_agent.peer_images import PeerImageServer
from compute_agent.rpcapi import ComputeAPI
from identity.service_token import ServiceToken
from scheduler.host_state import HostStateCache
from scheduler.prestage import Prestager
from tests.unit.compute_agent.conftest import Cell, qcow2_bytes

DATA = qcow2_bytes(padding=3 * 2**20 + 12345)
SHA512 = hashlib.sha512(DATA).hexdigest()


def image_meta(cell: Cell) -> dict[str, Any]:
    """Upload DATA; return the metadata a pre-staging run passes (with its sha512 and size)."""
    built = cell.upload_image(DATA)
    return {"id": built["id"], "name": built["name"], "os_hash_algo": "sha512", "os_hash_value": SHA512,
            "size": len(DATA)}


def start(cell: Cell, hosts: list[str]) -> tuple[AgentGroup, PeerImageServer]:
    conf = dataclasses.replace(cell.conf, peer_listen="127.0.0.1:0", peer_address="127.0.0.1")
    peers = PeerImageServer(conf, threads=8)
    group = AgentGroup(conf, cell.db, hosts, ServiceToken(conf), peers=peers)
    group.start()
    cell.groups.append(group)
    return group, peers


def cached(group: AgentGroup, host: str, image_id: str) -> bytes | None:
    env = group.agents[host].env
    assert env is not None
    path = env.images.path(image_id)
    return open(path, "rb").read() if os.path.exists(path) else None


def copy(group: AgentGroup, host: str, image: dict[str, Any],
         source: dict[str, Any] | None = None) -> dict[str, Any]:
    env = group.agents[host].env
    assert env is not None
    return prestage.run(env, image, source)


# --- the peer image server ----------------------------------------------------------

def test_peers_serve_cached_images_to_the_cells_service_accounts_only(cell):
    group, peers = start(cell, ["hv1"])
    image = image_meta(cell)
    assert copy(group, "hv1", image)["source"] == "endpoint"
    url = peers.url_of("hv1")
    assert url is not None and url.startswith("http://127.0.0.1:")
    service = ServiceToken(cell.conf).get()
    stranger = jwt.encode({"iss": cell.conf.path, "aud": [cell.conf.path], "sub": "x", "roles": ["service"],
                           "iat": int(time.time()), "exp": int(time.time()) + 600, "jti": "j"},
                          Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "nope"})

    def get(path: str, token: str | None, method: str = "GET") -> requests.Response:
        return requests.request(method, url + path, timeout=10,
                                headers={"X-Auth-Token": token} if token else {})

    assert get(f"/images/{image['id']}", None).status_code == 401
    assert get(f"/images/{image['id']}", stranger).status_code == 401
    assert get(f"/images/{image['id']}", cell.admin_token).status_code == 403  # no service role
    served = get(f"/images/{image['id']}", service)
    assert served.status_code == 200 and hashlib.sha512(served.content).hexdigest() == SHA512
    assert served.headers["Content-Length"] == str(len(DATA))
    assert get(f"/images/{uuid.uuid4()}", service).status_code == 404
    assert get(f"/images/{image['id']}.part-1", service).status_code == 404
    assert requests.get(url.replace("/hv1", "/hv9") + f"/images/{image['id']}", timeout=10,
                        headers={"X-Auth-Token": service}).status_code == 404
    assert requests.get(url.rsplit("/hosts/", 1)[0] + "/", timeout=10,
                        headers={"X-Auth-Token": service}).status_code == 404
    assert get(f"/images/{image['id']}", service, "DELETE").status_code == 405
    assert cached(group, "hv1", image["id"]) == DATA  # nothing changed it


# --- the agent's copies ---------------------------------------------------------------

def test_a_copy_from_a_peer_is_verified_and_the_host_then_serves_it(cell):
    group, peers = start(cell, ["hv1", "hv2"])
    image = image_meta(cell)
    first = copy(group, "hv1", image)
    assert (first["ok"], first["source"], first["bytes"]) == (True, "endpoint", len(DATA))
    assert first["serve_url"] == peers.url_of("hv1")
    second = copy(group, "hv2", image, {"host": "hv1", "url": first["serve_url"]})
    assert (second["ok"], second["source"], second["peer"], second["fallback"]) == (True, "peer", "hv1", None)
    assert cached(group, "hv2", image["id"]) == DATA and second["serve_url"] == peers.url_of("hv2")
    again = copy(group, "hv2", image, {"host": "hv1", "url": first["serve_url"]})
    assert (again["ok"], again["source"], again["bytes"]) == (True, "cached", 0)


@pytest.mark.parametrize("peer", ["corrupt", "unreachable"])
def test_a_failing_peer_makes_the_host_fall_back_to_the_cells_endpoint(cell, peer):
    group, peers = start(cell, ["hv1", "hv2"])
    image = image_meta(cell)
    assert copy(group, "hv1", image)["ok"]
    url = peers.url_of("hv1")
    assert url is not None
    if peer == "corrupt":
        env = group.agents["hv1"].env
        assert env is not None
        with open(env.images.path(image["id"]), "r+b") as f:
            f.seek(100)
            f.write(b"rotten")
    else:
        url = "http://127.0.0.1:9/hosts/hv1"
    answer = copy(group, "hv2", image, {"host": "hv1", "url": url})
    assert (answer["ok"], answer["source"], answer["peer"]) == (True, "endpoint", None)
    expected = "sha512 of the data does not match" if peer == "corrupt" else "peer unreachable"
    assert answer["fallback"].startswith("peer hv1: ") and expected in answer["fallback"]
    assert cached(group, "hv2", image["id"]) == DATA


def test_a_copy_without_a_hash_to_check_is_refused(cell):
    group, _ = start(cell, ["hv1"])
    image = image_meta(cell)
    answer = copy(group, "hv1", {k: v for k, v in image.items() if k != "os_hash_value"})
    assert not answer["ok"] and "sha512" in answer["error"] and answer["serve_url"] is None
    assert cached(group, "hv1", image["id"]) is None


def test_the_agent_answers_the_call_over_rpc(cell):
    group, _ = start(cell, ["hv1"])
    image = image_meta(cell)
    answer = ComputeAPI(cell.conf.broker_url).prestage_image(RequestContext.admin(), "hv1", image, None, 30)
    assert answer["ok"] and answer["host"] == "hv1" and cached(group, "hv1", image["id"]) == DATA


# --- a whole run in one cell ------------------------------------------------------------

class Reports:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def prestage_progress(self, ctxt: RequestContext, root_path: str, progress: dict[str, Any]) -> None:
        self.received.append(progress)


def test_a_run_reaches_every_host_mostly_from_peers(cell, monkeypatch):
    hosts = [f"hv{i}" for i in range(1, 7)]
    endpoint_reads: list[str] = []
    original = ImageClient.data

    def counted(self: ImageClient, image_id: str) -> Any:
        endpoint_reads.append(image_id)
        return original(self, image_id)

    monkeypatch.setattr(ImageClient, "data", counted)
    group, _ = start(cell, hosts)
    image = image_meta(cell)
    reports = Reports()
    conf = dataclasses.replace(cell.conf, prestage=dataclasses.replace(
        cell.conf.prestage, endpoint_copies=2, peer_copies=1, copy_timeout=60))
    prestager = Prestager(conf, HostStateCache(cell.db.transaction), ComputeAPI(conf.broker_url), reports)
    final = prestager.run(RequestContext.admin(), {"id": str(uuid.uuid4()), "image": image})
    assert final["status"] == "done" and final["hosts_failed"] == 0, final["failures"]
    assert final["hosts_done"] == 6 and final["from_peers"] >= 2
    assert len(endpoint_reads) == final["from_endpoint"] < 6
    for host in hosts:
        held = cached(group, host, image["id"])
        assert held is not None and hashlib.sha512(held).hexdigest() == SHA512, host
    assert reports.received[0]["status"] == "running" and reports.received[-1] == final
