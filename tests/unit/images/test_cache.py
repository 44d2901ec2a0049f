"""A compute cell's image cache in front of the master, both served over HTTP on loopback."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

import requests

from tests.unit.images.conftest import CELL, PROJECT_A, upload_to_master


def test_concurrent_misses_fetch_once_and_corruption_is_refetched(cloud, signer):
    data = os.urandom(2 * 1024 * 1024 + 5)
    expected = hashlib.sha512(data).hexdigest()
    owner = signer.headers(project_id=PROJECT_A)
    # Private to its project: the cell's service account reads it all the same.
    image_id = upload_to_master(cloud["master"], owner, data, visibility="private")
    file_path = f"/v2/images/{image_id}/file"
    url = cloud["cache_url"] + file_path
    counting = cloud["counting"]

    barrier = threading.Barrier(20)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def fetch() -> None:
        barrier.wait(timeout=30)
        response = requests.get(url, headers=cloud["service"], timeout=60)
        with lock:
            results.append((response.status_code, hashlib.sha512(response.content).hexdigest()))

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert results == [(200, expected)] * 20
    assert counting.count(file_path) == 1
    assert counting.count(f"/v2/images/{image_id}") == 1

    stats = requests.get(cloud["cache_url"] + "/v2/cache/stats", headers=cloud["service"],
                         timeout=10).json()["cache"]
    assert stats["fetches"] == 1 and stats["hits"] + stats["misses"] == 20 and stats["misses"] >= 1
    assert stats["bytes_served"] == 20 * len(data) and stats["cached_bytes"] == len(data)

    # Metadata and the list come from the cell's registry, not the master.
    shown = requests.get(cloud["cache_url"] + f"/v2/images/{image_id}", headers=cloud["service"],
                         timeout=10).json()
    assert shown["os_hash_value"] == expected and shown["status"] == "active"
    listed = requests.get(cloud["cache_url"] + "/v2/images", headers=cloud["service"], timeout=10).json()
    assert [i["id"] for i in listed["images"]] == [image_id]
    assert counting.count(f"/v2/images/{image_id}") == 1

    # Corrupt the cached copy in place (same size): detected, dropped, fetched again.
    cached = os.path.join(cloud["cache_dir"], image_id)
    with open(cached, "r+b") as f:
        f.write(b"\0" * 64)
    response = requests.get(url, headers=cloud["service"], timeout=60)
    assert response.status_code == 200
    assert hashlib.sha512(response.content).hexdigest() == expected
    assert counting.count(file_path) == 2
    stats = requests.get(cloud["cache_url"] + "/v2/cache/stats", headers=cloud["service"],
                         timeout=10).json()["cache"]
    assert stats["corrupt"] == 1 and stats["fetches"] == 2
    with open(cached, "rb") as f:
        assert hashlib.sha512(f.read()).hexdigest() == expected


def test_cache_is_read_only_and_for_service_accounts(cloud, signer):
    base = cloud["cache_url"]
    service = cloud["service"]
    response = requests.post(base + "/v2/images", json={"name": "x"}, headers=service, timeout=10)
    assert response.status_code == 405
    assert "read-only cache" in response.json()["message"]
    some_id = str(uuid.uuid4())
    assert requests.patch(base + f"/v2/images/{some_id}", json=[], headers=service,
                          timeout=10).status_code == 405
    # A snapshot's data and removal are relayed to the master, which knows no such image.
    assert requests.delete(base + f"/v2/images/{some_id}", headers=service, timeout=10).status_code == 404
    assert requests.put(base + f"/v2/images/{some_id}/file", data=b"x", headers=service,
                        timeout=10).status_code == 404

    user = signer.headers(issuer=CELL, project_id=PROJECT_A, roles=["member"])
    assert requests.get(base + f"/v2/images/{some_id}/file", headers=user, timeout=10).status_code == 403
    assert requests.get(base + "/v2/cache/stats", headers=user, timeout=10).status_code == 403
    # Unknown at the master too.
    response = requests.get(base + f"/v2/images/{some_id}", headers=service, timeout=10)
    assert response.status_code == 404 and response.json()["code"].startswith("404")
    assert requests.get(base + "/", timeout=10).status_code == 300


def test_master_refuses_cell_tokens_without_service_role(cloud, signer):
    member = signer.headers(issuer=CELL, audience=[CELL, "top"], project_id=PROJECT_A, roles=["member"])
    response = requests.get(cloud["master_url"] + "/v2/images", headers=member, timeout=10)
    assert response.status_code == 401
