"""Uploads that die, stall or race a delete: the image never stays stuck, the disk never keeps junk."""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa

from cells.db.image_models import Image
from images.streams import heartbeat


def _create(client, headers):
    body = {"name": "x", "disk_format": "raw", "container_format": "bare"}
    return client.post("/v2/images", json=body, headers=headers).get_json()["id"]


def _put(client, image_id, headers, **kwargs):
    return client.put(f"/v2/images/{image_id}/file",
                      headers={**headers, "Content-Type": "application/octet-stream"}, **kwargs)


def _set(app, image_id, **values):
    db = app.extensions["images"].registry.db
    db.transaction(lambda s: s.execute(sa.update(Image).where(Image.id == image_id).values(**values)))


def test_saving_image_is_taken_over_only_when_stale(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    image_id = _create(client, headers)

    _set(app, image_id, status="saving")
    assert _put(client, image_id, headers, data=b"abc").status_code == 409

    # Left saving by an upload that died an hour ago.
    _set(app, image_id, updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1))
    assert _put(client, image_id, headers, data=b"abc").status_code == 204
    assert client.get(f"/v2/images/{image_id}", headers=headers).get_json()["status"] == "active"


def test_delete_during_upload_is_410_and_keeps_nothing(master, signer):
    app, _conf, store_dir = master()
    client = app.test_client()
    headers = signer.headers()
    image_id = _create(client, headers)
    deleted = []

    class DeletingBody:
        """Deletes the image (another client) once half of the body has been read."""

        def __init__(self) -> None:
            self.left = 4

        def read(self, size: int = -1) -> bytes:
            if self.left == 2:
                other = app.test_client()
                deleted.append(other.delete(f"/v2/images/{image_id}", headers=headers).status_code)
            if not self.left:
                return b""
            self.left -= 1
            return b"d" * 1000

    response = _put(client, image_id, headers,
                    environ_overrides={"wsgi.input": DeletingBody(), "CONTENT_LENGTH": "4000"})
    assert deleted == [204]
    assert response.status_code == 410, response.get_data(as_text=True)
    assert [n for _r, _d, names in os.walk(store_dir) for n in names] == []
    assert client.get(f"/v2/images/{image_id}", headers=headers).status_code == 404


def test_heartbeat_beats_as_time_passes():
    now = [0.0]
    beats = []

    def clock() -> float:
        now[0] += 25.0
        return now[0]

    data = [b"a", b"b", b"c", b"d", b"e", b"f"]
    # The clock reads 25 at the start and 25 more after each chunk.
    assert list(heartbeat(iter(data), 60.0, lambda: beats.append(now[0]), clock)) == data
    assert beats == [100.0, 175.0]
