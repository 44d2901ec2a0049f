"""An image uploaded with the real `openstack` CLI to the API cell comes out of a compute cell's
image cache bit for bit: the SHA-512 of the file, of the bytes downloaded from the cache, and the
os_hash_value the master recorded are one and the same."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from tests.integration.test_cell_identity import CELL1, cell_token, endpoints
from tests.integration.test_openstack_cli import osc

pytestmark = pytest.mark.integration


def test_openstack_cli_upload_comes_out_of_the_cell_cache_unchanged(embedded_cloud, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)
    path = tmp_path / "disk.qcow2"
    path.write_bytes(data)
    expected = hashlib.sha512(data).hexdigest()

    created = json.loads(osc(embedded_cloud, "image", "create", "--file", str(path), "--disk-format",
                             "qcow2", "--container-format", "bare", "-f", "json", "transfer-test").stdout)
    shown = json.loads(osc(embedded_cloud, "image", "show", "-f", "json", created["id"]).stdout)
    assert shown["status"] == "active" and shown["size"] == len(data)
    # OSC lists the fields it does not know by their wire names under "properties".
    recorded = {**shown, **shown.get("properties", {})}
    assert recorded["os_hash_algo"] == "sha512" and recorded["os_hash_value"] == expected

    cell = endpoints(embedded_cloud, CELL1)["images"]
    service = {"X-Auth-Token": cell_token(embedded_cloud)}
    digest, received = hashlib.sha512(), 0
    with requests.get(f"{cell}/v2/images/{created['id']}/file", headers=service, stream=True,
                      timeout=120) as response:
        assert response.status_code == 200, response.text
        for chunk in response.iter_content(1024 * 1024):
            digest.update(chunk)
            received += len(chunk)
    assert received == len(data) and digest.hexdigest() == expected
    cached = requests.get(f"{cell}/v2/images/{created['id']}", headers=service, timeout=30).json()
    assert cached["os_hash_value"] == expected

    # And back out of the master through the CLI.
    saved = tmp_path / "saved"
    osc(embedded_cloud, "image", "save", "--file", str(saved), created["id"])
    assert hashlib.sha512(saved.read_bytes()).hexdigest() == expected
    osc(embedded_cloud, "image", "delete", created["id"])
