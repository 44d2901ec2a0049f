"""The registry's queries on MariaDB: JSON filters, keyset pages, status compare-and-swap."""

from __future__ import annotations

import hashlib
import os

from images.app import create_app
from tests.unit.images.conftest import cell_config


def test_registry_on_mariadb(mariadb_db, tmp_path, signer):
    db = mariadb_db("api")
    conf = cell_config(db.url, str(tmp_path / "store"))
    client = create_app(conf, db=db, verifier=signer.verifier(conf)).test_client()
    headers = signer.headers()
    ids = []
    for i in range(5):
        body = {"name": f"m-{i}", "disk_format": "raw", "container_format": "bare",
                "tags": ["odd" if i % 2 else "even", "100%_sure"], "kind": f"k{i % 2}"}
        response = client.post("/v2/images", json=body, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.get_json()["id"])

    def names(query):
        response = client.get(f"/v2/images?{query}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(i["name"] for i in response.get_json()["images"])

    assert names("tag=odd") == ["m-1", "m-3"]
    assert names("tag=100%25_sure") == [f"m-{i}" for i in range(5)]
    assert names("tag=100%25") == []
    assert names("kind=k0") == ["m-0", "m-2", "m-4"]
    assert names("protected=false&name=m-2") == ["m-2"]

    seen, url = [], "/v2/images?sort_key=name&sort_dir=desc&limit=2"
    while url:
        body = client.get(url, headers=headers).get_json()
        seen.extend(i["name"] for i in body["images"])
        url = body.get("next")
    assert seen == [f"m-{i}" for i in range(4, -1, -1)]

    data = os.urandom(100_000)
    response = client.put(f"/v2/images/{ids[0]}/file", data=data,
                          headers={**headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 204
    assert client.put(f"/v2/images/{ids[0]}/file", data=data,
                      headers={**headers, "Content-Type": "application/octet-stream"}).status_code == 409
    shown = client.get(f"/v2/images/{ids[0]}", headers=headers).get_json()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert client.get(f"/v2/images/{ids[0]}/file", headers=headers).data == data
    assert client.delete(f"/v2/images/{ids[0]}", headers=headers).status_code == 204
    assert names("") == [f"m-{i}" for i in range(1, 5)]
