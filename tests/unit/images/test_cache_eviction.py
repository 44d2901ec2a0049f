"""The cache's bookkeeping against a master in memory: eviction order, pinned readers, bad data."""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager

import pytest

from cells.exception import NotFound, ServiceUnavailable
from images.cache import ImageCache
from images.registry import Registry
from images.store.filesystem import FilesystemStore

SIZE = 1000


class FakeMaster:
    """Serves images from a dict; ``bad`` ids send data that does not match their hash."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.bad: set[str] = set()
        self.data_calls = 0

    def add(self, data: bytes | None = None) -> str:
        image_id = str(uuid.uuid4())
        self.images[image_id] = os.urandom(SIZE) if data is None else data
        return image_id

    def image(self, image_id: str) -> dict:
        if image_id not in self.images:
            raise NotFound(image_id)
        data = self.images[image_id]
        return {"id": image_id, "name": "img", "status": "active", "disk_format": "raw",
                "container_format": "bare", "size": len(data), "visibility": "public",
                "checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
                "os_hash_value": hashlib.sha512(data).hexdigest(), "min_disk": 0, "min_ram": 0,
                "protected": False, "owner": "p", "tags": ["t"], "os_distro": "cirros",
                "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z",
                "self": f"/v2/images/{image_id}", "schema": "/v2/schemas/image"}

    @contextmanager
    def data(self, image_id: str):
        self.data_calls += 1
        data = self.images[image_id]
        if image_id in self.bad:
            data = b"X" + data[1:]
        yield iter([data[:400], data[400:]])


@pytest.fixture
def setup(sqlite_db, tmp_path):
    master = FakeMaster()
    store = FilesystemStore(str(tmp_path / "cache"))
    cache = ImageCache(Registry(sqlite_db("compute")), store, master, max_bytes=int(2.5 * SIZE))  # type: ignore[arg-type]
    return master, store, cache


def read(cache: ImageCache, image_id: str) -> bytes:
    img, data = cache.open(image_id)
    assert data is not None
    with data:
        return b"".join(data)


def held(store: FilesystemStore) -> set[str]:
    return {s.image_id for s in store.list()}


def test_least_recently_used_is_evicted_but_never_one_being_read(setup):
    master, store, cache = setup
    a, b, c, d = (master.add() for _ in range(4))
    assert read(cache, a) == master.images[a]
    read(cache, b)
    read(cache, c)
    assert held(store) == {b, c}
    assert cache.snapshot()["evictions"] == 1

    # b and c are being read: fetching a goes over the limit rather than evict them.
    _img, reading_b = cache.open(b)
    _img, reading_c = cache.open(c)
    read(cache, a)
    assert held(store) == {a, b, c}
    assert cache.snapshot()["cached_bytes"] == 3 * SIZE
    reading_b.close()
    reading_c.close()

    # Once released they are the least recently used and go first.
    read(cache, d)
    assert held(store) == {a, d}
    snap = cache.snapshot()
    assert snap["cached_bytes"] == 2 * SIZE and snap["evictions"] == 3
    assert snap["fetches"] == 5 and master.data_calls == 5


def test_metadata_is_copied_with_properties(setup):
    master, _store, cache = setup
    image_id = master.add()
    img = cache.metadata(image_id)
    assert img.os_hash_value == hashlib.sha512(master.images[image_id]).hexdigest()
    assert img.properties == {"os_distro": "cirros"} and img.tags == ["t"]
    assert cache.metadata(image_id).id == image_id
    with pytest.raises(NotFound):
        cache.metadata(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        cache.open("not-a-uuid")


def test_data_not_matching_the_masters_hash_is_not_kept(setup):
    master, store, cache = setup
    image_id = master.add()
    master.bad.add(image_id)
    with pytest.raises(ServiceUnavailable):
        cache.open(image_id)
    assert held(store) == set() and os.listdir(os.path.join(store.root, ".tmp")) == []
    snap = cache.snapshot()
    assert snap["corrupt"] == 1 and snap["fetch_failures"] == 1 and snap["cached_images"] == 0

    master.bad.clear()
    assert read(cache, image_id) == master.images[image_id]


def test_restart_picks_up_held_data_and_verifies_it(setup, sqlite_db):
    master, store, cache = setup
    image_id = master.add()
    read(cache, image_id)
    # A new cache over the same store and registry (a restarted daemon).
    again = ImageCache(cache.registry, store, master, max_bytes=10 * SIZE)  # type: ignore[arg-type]
    assert again.snapshot()["cached_images"] == 1
    assert read(again, image_id) == master.images[image_id]
    assert master.data_calls == 1

    # Corrupted while the daemon was down: found by the first read's verification.
    with open(os.path.join(store.root, image_id), "r+b") as f:
        f.write(b"\1\2\3")
    third = ImageCache(cache.registry, store, master, max_bytes=10 * SIZE)  # type: ignore[arg-type]
    assert read(third, image_id) == master.images[image_id]
    assert master.data_calls == 2 and third.snapshot()["corrupt"] == 1


def test_corruption_seen_while_serving_drops_the_copy(setup):
    master, store, cache = setup
    image_id = master.add()
    read(cache, image_id)
    _img, data = cache.open(image_id)
    # Changed after verification without changing size or mtime (a bad disk).
    path = os.path.join(store.root, image_id)
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"\0" * 10)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ServiceUnavailable):
        b"".join(data)
    data.close()
    assert held(store) == set()
    assert read(cache, image_id) == master.images[image_id]
    assert master.data_calls == 2
