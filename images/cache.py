"""A compute cell's read-through cache of the master image service.

On a miss the image's metadata and data are fetched from the master once,
however many hypervisors ask at the same time; the data is verified against
the master's SHA-512 before it is kept or served. The least recently used
images are evicted above the size limit, never one being read. Data whose
file changed since it was verified is verified again before it is served,
and every serve hashes what it sends, so a corrupted copy is dropped and
fetched again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from cells.db.image_models import Image
from cells.db.types import utcnow
from cells.exception import CloudError, NotFound, ServiceUnavailable
from images.integrity import CorruptData
from images.master import MasterClient
from images.registry import Registry, is_uuid, normalize_id, parse_time
from images.singleflight import SingleFlight
from images.store.base import ImageData, Store
from images.streams import Digests, checked, verified

LOG = logging.getLogger(__name__)

# Columns copied from the master's representation of an image.
_COPIED = ("name", "status", "disk_format", "container_format", "size", "virtual_size", "checksum",
           "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "visibility", "protected", "owner")
_NOT_PROPERTIES = frozenset({*_COPIED, "id", "tags", "created_at", "updated_at", "self", "file",
                             "schema", "os_hidden", "locations", "direct_url", "stores"})


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    fetches: int = 0
    fetch_failures: int = 0
    bytes_served: int = 0
    bytes_fetched: int = 0
    evictions: int = 0
    corrupt: int = 0


@dataclass
class _Entry:
    size: int
    verified: tuple[int, ...] | None  # the store signature the data was verified at
    readers: int = 0


class ImageCache:
    """Cached images of one cell: metadata in the registry, data in the store."""

    def __init__(self, registry: Registry, store: Store, master: MasterClient, max_bytes: int) -> None:
        self.registry = registry
        self.store = store
        self.master = master
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._flights = SingleFlight()
        # Least recently used first.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        for held in sorted(store.list(), key=lambda s: s.last_access):
            self._entries[held.image_id] = _Entry(held.size, None)
            self._bytes += held.size

    # --- metadata ----------------------------------------------------------

    def metadata(self, image_id: str) -> Image:
        """Return the image's row, fetched from the master if this cell has none; raises NotFound."""
        if not is_uuid(image_id):
            raise NotFound(f"No image found with ID {image_id}")
        image_id = normalize_id(image_id)
        img = self.registry.find(image_id)
        if img is not None:
            return img
        return self._flights.do(("meta", image_id), lambda: self._fetch_metadata(image_id, recheck=True))

    def _fetch_metadata(self, image_id: str, recheck: bool) -> Image:
        if recheck and (img := self.registry.find(image_id)) is not None:
            return img  # fetched by a flight that ended just before ours began
        body = self.master.image(image_id)
        try:
            values = _row_values(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceUnavailable("The master image service sent an unreadable image.") from exc
        return self.registry.save_copy(values)

    def refresh(self, image_id: str) -> Image:
        """Copy the image's metadata from the master again, after a write this cell relayed."""
        return self._fetch_metadata(normalize_id(image_id), recheck=False)

    # --- data --------------------------------------------------------------

    def open(self, image_id: str) -> tuple[Image, ImageData | None]:
        """Return the image and its verified data, opened (None if the image has no data).

        Fetches metadata and data from the master on a miss; raises NotFound,
        or ServiceUnavailable if the master cannot deliver good data.
        """
        if not is_uuid(image_id):
            raise NotFound(f"No image found with ID {image_id}")
        image_id = normalize_id(image_id)
        img = self.registry.find(image_id)
        missed = False
        for _attempt in range(3):
            if img is not None and img.status == "active":
                data = self._open_held(img)
                if data is not None:
                    if not missed:
                        with self._lock:
                            self.stats.hits += 1
                    return img, data
            if not missed:
                missed = True
                with self._lock:
                    self.stats.misses += 1
            img = self._flights.do(("data", image_id), lambda: self._fetch(image_id))
            if img.status != "active":
                return img, None
        raise ServiceUnavailable(f"Image {image_id} could not be cached; try again later.")

    def _open_held(self, img: Image) -> ImageData | None:
        with self._lock:
            entry = self._entries.get(img.id)
            if entry is None:
                return None
            self._entries.move_to_end(img.id)
            entry.readers += 1
        try:
            held = self.store.stat(img.id)
            if held is None:
                self._forget(img.id, entry)
                self._release(entry)
                return None
            if entry.verified != held.signature:
                # Changed (or never verified by this process): verify once before serving.
                ok = self._flights.do(("verify", img.id), lambda: self._verify(img, entry, held.signature))
                if not ok:
                    self._release(entry)
                    return None
            data = self.store.open(img.id)
        except NotFound:
            self._forget(img.id, entry)
            self._release(entry)
            return None
        except BaseException:
            self._release(entry)
            raise
        return _ServedData(self, img.id, entry, img.os_hash_value or "", data)

    def _verify(self, img: Image, entry: _Entry, signature: tuple[int, ...]) -> bool:
        digests = Digests(md5=False)
        with self.store.open(img.id) as data:
            for _chunk in digests.feed(data):
                pass
        if digests.sha512 != img.os_hash_value:
            LOG.warning("cached data of image %s does not match its SHA-512; dropping it", img.id)
            self._drop_corrupt(img.id, entry)
            return False
        with self._lock:
            entry.verified = signature
        return True

    def _fetch(self, image_id: str) -> Image:
        with self._lock:
            held = image_id in self._entries
        if held and (img := self.registry.find(image_id)) is not None:
            return img  # fetched by a flight that ended just before ours began
        try:
            img = self._fetch_metadata(image_id, recheck=False)
            if img.status != "active":
                return img
            if img.os_hash_algo != "sha512" or not img.os_hash_value:
                raise ServiceUnavailable(f"The master has no SHA-512 for image {image_id}: "
                                         "it cannot be verified and is not cached.")
            size = self._download(img)
        except CloudError:
            with self._lock:
                self.stats.fetch_failures += 1
            raise
        stored = self.store.stat(image_id)
        with self._lock:
            self.stats.fetches += 1
            self.stats.bytes_fetched += size
            old = self._entries.pop(image_id, None)
            self._bytes += size - (old.size if old else 0)
            self._entries[image_id] = _Entry(size, stored.signature if stored else None)
            self._evict(keep=image_id)
        LOG.info("cached image %s (%d bytes)", image_id, size)
        return img

    def _download(self, img: Image) -> int:
        def check(digests: Digests) -> None:
            if digests.sha512 != img.os_hash_value or (img.size is not None and digests.size != img.size):
                with self._lock:
                    self.stats.corrupt += 1
                raise CorruptData(f"Data of image {img.id} from the master does not match its "
                                  "SHA-512; it was not cached.")

        with self.master.data(img.id) as chunks:
            return self.store.write(img.id, checked(chunks, Digests(md5=False), check))

    # --- bookkeeping -------------------------------------------------------

    def _evict(self, keep: str) -> None:
        """Drop least recently used images until under the limit; call with the lock held."""
        for image_id in list(self._entries):
            if self._bytes <= self.max_bytes:
                return
            entry = self._entries[image_id]
            if image_id == keep or entry.readers:
                continue
            del self._entries[image_id]
            self._bytes -= entry.size
            self.stats.evictions += 1
            # Under the lock: no reader can pin it and no fetch can re-create it meanwhile.
            self.store.delete(image_id)
            LOG.info("evicted image %s (%d bytes) from the cache", image_id, entry.size)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.readers -= 1

    def _forget(self, image_id: str, entry: _Entry) -> None:
        """Drop the entry (if still the current one) of data that is gone from the store."""
        with self._lock:
            if self._entries.get(image_id) is entry:
                del self._entries[image_id]
                self._bytes -= entry.size

    def _drop_corrupt(self, image_id: str, entry: _Entry) -> None:
        """Drop the entry and the data of a corrupt copy (if still the current one)."""
        with self._lock:
            self.stats.corrupt += 1
            if self._entries.get(image_id) is entry:
                del self._entries[image_id]
                self._bytes -= entry.size
                self.store.delete(image_id)

    def _served(self, nbytes: int) -> None:
        with self._lock:
            self.stats.bytes_served += nbytes

    def snapshot(self) -> dict[str, Any]:
        """Return the counters and the cache's current size, for GET /v2/cache/stats."""
        with self._lock:
            return {**asdict(self.stats), "cached_images": len(self._entries),
                    "cached_bytes": self._bytes, "max_bytes": self.max_bytes}


class _ServedData(ImageData):
    """Cached data on its way to a client: hashed as it goes, the reader pin released on close."""

    def __init__(self, cache: ImageCache, image_id: str, entry: _Entry, expected: str,
                 data: ImageData) -> None:
        self._cache = cache
        self._image_id = image_id
        self._entry = entry
        self._expected = expected
        self._data = data
        self._closed = False
        self.size = data.size

    def __iter__(self) -> Iterator[bytes]:
        for chunk in verified(self._data, self._expected, self._corrupt):
            self._cache._served(len(chunk))
            yield chunk

    def _corrupt(self) -> CorruptData:
        # Too late for this client (its body ends short of the last chunk, so
        # it sees an error); the next request fetches good data again.
        LOG.error("cached data of image %s changed under a reader; dropping it", self._image_id)
        self._cache._drop_corrupt(self._image_id, self._entry)
        return CorruptData(f"Cached data of image {self._image_id} is corrupt.")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._data.close()
            self._cache._release(self._entry)


def _row_values(body: dict[str, Any]) -> dict[str, Any]:
    """Turn the master's Image v2 representation into registry column values."""
    values: dict[str, Any] = {k: body.get(k) for k in _COPIED}
    values["id"] = normalize_id(str(body["id"]))
    values["min_disk"] = values["min_disk"] or 0
    values["min_ram"] = values["min_ram"] or 0
    values["protected"] = bool(values["protected"])
    values["visibility"] = values["visibility"] or "shared"
    values["tags"] = list(body.get("tags") or [])
    values["properties"] = {k: v for k, v in body.items() if k not in _NOT_PROPERTIES}
    values["created_at"] = parse_time(body.get("created_at")) or utcnow()
    values["updated_at"] = parse_time(body.get("updated_at")) or values["created_at"]
    values["deleted"] = False
    return values

