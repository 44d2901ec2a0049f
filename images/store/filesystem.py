"""A directory of image files: one file per image, written beside and renamed into place."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cells.exception import NotFound
from images.store.base import CHUNK_SIZE, ImageData, Store, StoredImage

LOG = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TMP = ".tmp"


class FileData(ImageData):
    """An open image file read in chunks."""

    def __init__(self, f: BinaryIO, chunk_size: int) -> None:
        self._f = f
        self._chunk_size = chunk_size
        self.size = os.fstat(f.fileno()).st_size

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._f.read(self._chunk_size):
            yield chunk

    def close(self) -> None:
        self._f.close()


class FilesystemStore(Store):
    """Keeps each image as ``<root>/<image id>``; partial writes live under ``<root>/.tmp``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._tmp = os.path.join(self.root, _TMP)
        os.makedirs(self._tmp, exist_ok=True)

    def path(self, image_id: str) -> str:
        """Return the file holding the image's data; raises NotFound for an id unfit for a name."""
        if not _ID.match(image_id):
            raise NotFound(f"No image data found for {image_id!r}")
        return os.path.join(self.root, image_id)

    def write(self, image_id: str, chunks: Iterable[bytes]) -> int:
        final = self.path(image_id)
        tmp = os.path.join(self._tmp, f"{image_id}.{uuid.uuid4().hex}")
        written = 0
        try:
            with open(tmp, "xb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    written += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            # The rename is the commit: readers see the old data or all of the new.
            os.replace(tmp, final)
        except BaseException:
            _unlink(tmp)
            raise
        _fsync_dir(self.root)
        return written

    def open(self, image_id: str, chunk_size: int = CHUNK_SIZE) -> ImageData:
        try:
            f = open(self.path(image_id), "rb")  # noqa: SIM115 - closed by FileData.close
        except FileNotFoundError as exc:
            raise NotFound(f"No image data found for image {image_id}") from exc
        return FileData(f, chunk_size)

    def delete(self, image_id: str) -> bool:
        return _unlink(self.path(image_id))

    def stat(self, image_id: str) -> StoredImage | None:
        try:
            st = os.stat(self.path(image_id))
        except (FileNotFoundError, NotFound):
            return None
        return _stored(image_id, st)

    def list(self) -> list[StoredImage]:
        found = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name == _TMP or not _ID.match(entry.name) or not entry.is_file():
                    continue
                try:
                    found.append(_stored(entry.name, entry.stat()))
                except FileNotFoundError:
                    continue  # deleted while we looked
        return found

    def purge_partial(self, older_than: float) -> int:
        """Remove partial writes untouched for ``older_than`` seconds (left by a crash); returns how many.

        A write in progress touches its file with every chunk, so an old
        untouched one belongs to no live writer, ours or another instance's.
        """
        limit = time.time() - older_than
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < limit and _unlink(entry.path):
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            LOG.info("removed %d partial image files older than %ds", removed, older_than)
        return removed


def _stored(image_id: str, st: os.stat_result) -> StoredImage:
    return StoredImage(image_id, st.st_size, (st.st_size, st.st_mtime_ns, st.st_ino),
                       max(st.st_atime, st.st_mtime))


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
