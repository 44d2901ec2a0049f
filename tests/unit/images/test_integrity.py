"""Data is verified on every copy: the master never hands out a complete copy of damaged data,
and a compute cell's cache keeps nothing the master's SHA-512 does not vouch for."""

from __future__ import annotations

import hashlib
import logging
import os

import pytest
import requests

from cells.exception import ServiceUnavailable
from images.streams import verified
from tests.unit.images.conftest import PROJECT_A, upload_to_master

MiB = 1024 * 1024


class Bad(ServiceUnavailable):
    pass


def test_verified_yields_everything_only_for_matching_data():
    chunks = [b"a" * 10, b"b" * 10, b"c" * 3]
    good = hashlib.sha512(b"".join(chunks)).hexdigest()
    assert list(verified(iter(chunks), good, lambda: Bad("x"))) == chunks
    assert list(verified(iter([]), hashlib.sha512(b"").hexdigest(), lambda: Bad("x"))) == []

    got: list[bytes] = []
    with pytest.raises(Bad):
        for chunk in verified(iter(chunks), hashlib.sha512(b"other").hexdigest(), lambda: Bad("x")):
            got.append(chunk)
    # Everything but the last chunk went out: the receiver never holds the whole of it.
    assert got == chunks[:-1]
    with pytest.raises(Bad):
        list(verified(iter([b"only"]), good, lambda: Bad("x")))


def _store_file(cloud, image_id: str) -> str:
    store = cloud["master"].application.extensions["images"].store
    return store.path(image_id)


def test_master_cuts_short_a_download_of_data_damaged_in_its_store(cloud, signer, caplog):
    data = os.urandom(3 * MiB + 11)
    owner = signer.headers(project_id=PROJECT_A)
    image_id = upload_to_master(cloud["master"], owner, data)
    url = f"{cloud['master_url']}/v2/images/{image_id}/file"
    path = _store_file(cloud, image_id)

    # Flipped bytes in place, same size: found by the hash, before the last chunk is sent.
    with open(path, "r+b") as f:
        f.seek(MiB + 5)
        f.write(b"\xff" * 16)
    received = 0
    caplog.set_level(logging.ERROR, logger="images.integrity")
    with pytest.raises(requests.exceptions.RequestException):
        with requests.get(url, headers=owner, stream=True, timeout=30) as response:
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == len(data)
            for chunk in response.iter_content(64 * 1024):
                received += len(chunk)
    assert 0 < received < len(data)
    assert any(image_id in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)

    # Truncated: refused before a byte of data leaves, with a message.
    with open(path, "r+b") as f:
        f.truncate(MiB)
    response = requests.get(url, headers=owner, timeout=30)
    assert response.status_code == 503
    body = response.json()
    assert image_id in body["message"] and "damaged" in body["message"]
    assert body["code"].startswith("503")

    # The same data, put back: served whole again.
    with open(path, "wb") as f:
        f.write(data)
    response = requests.get(url, headers=owner, timeout=30)
    assert response.status_code == 200 and response.content == data


def test_cache_keeps_nothing_the_master_cannot_serve_whole(cloud, signer):
    data = os.urandom(2 * MiB + 3)
    image_id = upload_to_master(cloud["master"], signer.headers(project_id=PROJECT_A), data)
    path = _store_file(cloud, image_id)
    with open(path, "r+b") as f:
        f.write(b"\0" * 8)
    url = f"{cloud['cache_url']}/v2/images/{image_id}/file"

    response = requests.get(url, headers=cloud["service"], timeout=60)
    assert response.status_code == 503, response.text
    assert not os.path.exists(os.path.join(cloud["cache_dir"], image_id))
    assert os.listdir(os.path.join(cloud["cache_dir"], ".tmp")) == []
    stats = requests.get(cloud["cache_url"] + "/v2/cache/stats", headers=cloud["service"],
                         timeout=10).json()["cache"]
    assert stats["fetches"] == 0 and stats["fetch_failures"] == 1 and stats["cached_images"] == 0

    with open(path, "wb") as f:
        f.write(data)
    response = requests.get(url, headers=cloud["service"], timeout=60)
    assert response.status_code == 200
    assert hashlib.sha512(response.content).hexdigest() == hashlib.sha512(data).hexdigest()
