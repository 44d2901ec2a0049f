"""The store interface: streamed writes, streamed reads, deletes.

A backend never holds a whole image in memory: writes consume an iterator
of chunks and reads hand one back. A write becomes visible only once every
chunk is in place, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredImage:
    """What a backend knows of one image's data without reading it."""

    image_id: str
    size: int
    # Changes whenever the data may have changed (size, mtime, inode): a cache
    # re-verifies data whose signature differs from the one it verified.
    signature: tuple[int, ...]
    last_access: float


class ImageData(abc.ABC):
    """Open data of one image: iterate for chunks, close when done (also on error)."""

    size: int

    @abc.abstractmethod
    def __iter__(self) -> Iterator[bytes]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ImageData:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Store(abc.ABC):
    """A place to keep image data, keyed by image id."""

    @abc.abstractmethod
    def write(self, image_id: str, chunks: Iterable[bytes]) -> int:
        """Store every chunk as the image's data, replacing any older data atomically.

        Returns the number of bytes written. If ``chunks`` raises, nothing is
        kept and the exception propagates; the image's older data, if any,
        stays as it was.
        """

    @abc.abstractmethod
    def open(self, image_id: str, chunk_size: int = CHUNK_SIZE) -> ImageData:
        """Return the image's data, opened; raises cells.exception.NotFound if there is none."""

    @abc.abstractmethod
    def delete(self, image_id: str) -> bool:
        """Remove the image's data; returns False if there was none."""

    @abc.abstractmethod
    def stat(self, image_id: str) -> StoredImage | None:
        """Return what is known of the image's data without reading it, or None."""

    @abc.abstractmethod
    def list(self) -> list[StoredImage]:
        """Return every image held, in no particular order."""
