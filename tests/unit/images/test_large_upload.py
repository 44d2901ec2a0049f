"""A large image streams through upload and download without being held in memory."""

from __future__ import annotations

import hashlib
import tracemalloc

SIZE = 64 * 1024 * 1024
BLOCK = bytes(range(256)) * 4096  # 1 MiB


class Generated:
    """SIZE bytes made on the fly, read in whatever sizes the server asks for."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def read(self, size: int = -1) -> bytes:
        size = min(self.remaining, len(BLOCK) if size < 0 else size, len(BLOCK))
        self.remaining -= size
        # A fresh copy each time, as a socket gives: keeping chunks would show in the peak.
        return memoryview(BLOCK)[:size].tobytes()


def expected_sha512() -> str:
    digest = hashlib.sha512()
    left = SIZE
    while left:
        n = min(left, len(BLOCK))
        digest.update(BLOCK[:n])
        left -= n
    return digest.hexdigest()


def test_64mib_upload_and_download_are_streamed(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    img = client.post("/v2/images", json={"name": "big", "disk_format": "raw", "container_format": "bare"},
                      headers=headers).get_json()

    tracemalloc.start()
    try:
        response = client.put(f"/v2/images/{img['id']}/file",
                              headers={**headers, "Content-Type": "application/octet-stream"},
                              environ_overrides={"wsgi.input": Generated(SIZE), "CONTENT_LENGTH": str(SIZE)})
        _current, upload_peak = tracemalloc.get_traced_memory()
        assert response.status_code == 204, response.get_data(as_text=True)

        tracemalloc.reset_peak()
        response = client.get(f"/v2/images/{img['id']}/file", headers=headers, buffered=False)
        assert response.status_code == 200
        digest, received = hashlib.sha512(), 0
        for chunk in response.iter_encoded():
            digest.update(chunk)
            received += len(chunk)
        response.close()
        _current, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    shown = client.get(f"/v2/images/{img['id']}", headers=headers).get_json()
    assert shown["size"] == SIZE == received
    assert shown["os_hash_value"] == expected_sha512() == digest.hexdigest()
    # A few 1 MiB chunks in flight at most, never the 64 MiB image.
    assert upload_peak < 8 * 1024 * 1024, upload_peak
    assert download_peak < 8 * 1024 * 1024, download_peak
