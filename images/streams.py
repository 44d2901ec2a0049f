"""Streams of image data: read a request body in chunks, hash data as it passes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from cells.exception import BadRequest
from images.store.base import CHUNK_SIZE

__all__ = ["CHUNK_SIZE", "Digests", "checked", "heartbeat", "read_body", "verified"]


class Digests:
    """Size, MD5 (``checksum``) and SHA-512 (``os_hash_value``) of the data fed through.

    ``md5=False`` skips the MD5 where only the SHA-512 is checked (a cache's
    copies): on one core it costs about as much again as the SHA-512.
    """

    def __init__(self, md5: bool = True) -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._sha512 = hashlib.sha512()

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield each chunk unchanged after adding it to the hashes."""
        for chunk in chunks:
            self.size += len(chunk)
            if self._md5 is not None:
                self._md5.update(chunk)
            self._sha512.update(chunk)
            yield chunk

    @property
    def checksum(self) -> str:
        """The MD5 hex digest; raises ValueError if these digests were made without it."""
        if self._md5 is None:
            raise ValueError("the MD5 of this data was not computed")
        return self._md5.hexdigest()

    @property
    def sha512(self) -> str:
        return self._sha512.hexdigest()


def checked(chunks: Iterable[bytes], digests: Digests, check: Callable[[Digests], None]) -> Iterator[bytes]:
    """Feed ``chunks`` through ``digests`` and call ``check`` after the last one.

    ``check`` raises to refuse the data; a store writing from this iterator
    then keeps nothing.
    """
    yield from digests.feed(chunks)
    check(digests)


def verified(chunks: Iterable[bytes], sha512: str, corrupt: Callable[[], BaseException]) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged, the last one only once the SHA-512 of them all equals ``sha512``.

    On a mismatch raises ``corrupt()`` in place of the last chunk: a response
    with a Content-Length then ends short, so no client ever receives a
    complete copy of data that does not match.
    """
    digest = hashlib.sha512()
    held: bytes | None = None
    for chunk in chunks:
        if held is not None:
            yield held
        digest.update(chunk)
        held = chunk
    if digest.hexdigest() != sha512:
        raise corrupt()
    if held is not None:
        yield held


def read_body(stream: BinaryIO, length: int | None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a request body in chunks of at most ``chunk_size`` bytes.

    With a ``length`` (Content-Length) exactly that many bytes are read and a
    shorter body raises BadRequest; without one (chunked transfer) the body
    is read to its end.
    """
    remaining = length
    received = 0
    while remaining is None or remaining > 0:
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        try:
            chunk = stream.read(want)
        except (OSError, ValueError) as exc:
            # A client that stalls or drops the connection mid-body.
            raise BadRequest(f"The upload was interrupted after {received} bytes.") from exc
        if not chunk:
            if remaining:
                raise BadRequest(f"The request body ended after {received} bytes but "
                                 f"Content-Length announced {length}.")
            return
        received += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def heartbeat(chunks: Iterable[bytes], every: float, beat: Callable[[], None],
              clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged, calling ``beat()`` whenever ``every`` seconds have passed."""
    last = clock()
    for chunk in chunks:
        yield chunk
        now = clock()
        if now - last >= every:
            beat()
            last = now
