"""Serve image data only as the hashes recorded at upload describe it.

The master's store is the one copy there is: if its file is damaged on disk
nothing can fetch a good one again, so a download that does not match is cut
short (and logged) rather than handed out complete. A file whose size is
wrong is refused before a byte leaves; one whose content changed shows in the
SHA-512, which is checked before the last chunk goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from cells.db.image_models import Image
from cells.exception import ServiceUnavailable
from images.store.base import ImageData, Store
from images.streams import verified

LOG = logging.getLogger(__name__)


class CorruptData(ServiceUnavailable):
    """Data that does not match the size or the SHA-512 recorded for its image."""


def open_verified(store: Store, img: Image) -> VerifiedData:
    """Return the active image's data from ``store``, checked as it is served.

    Raises CorruptData for data of the wrong size, NotFound if the store has
    none (the image was deleted meanwhile).
    """
    return VerifiedData(img, store.open(img.id))


class VerifiedData(ImageData):
    """A master store's data of ``img`` checked as it is served.

    Raises CorruptData when opened over data of the wrong size, and while
    iterating (in place of the last chunk) over data whose SHA-512 differs.
    """

    def __init__(self, img: Image, data: ImageData) -> None:
        self._img = img
        self._data = data
        self.size = data.size
        if img.size is not None and data.size != img.size:
            data.close()
            raise _corrupt(img.id, f"{data.size} bytes in the store, {img.size} recorded")

    def __iter__(self) -> Iterator[bytes]:
        if self._img.os_hash_algo != "sha512" or not self._img.os_hash_value:
            # Every upload records one; an image without cannot be checked beyond its size.
            yield from self._data
            return
        yield from verified(self._data, self._img.os_hash_value,
                            lambda: _corrupt(self._img.id, "its SHA-512 differs from the one recorded"))

    def close(self) -> None:
        self._data.close()


def _corrupt(image_id: str, why: str) -> CorruptData:
    LOG.error("data of image %s in the store is damaged (%s): not served; restore the file "
              "or delete the image", image_id, why)
    return CorruptData(f"The data of image {image_id} is damaged in the image store and cannot be "
                       "served; ask an operator to restore it.")
