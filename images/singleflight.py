"""Run a call once per key however many threads ask for it at the same time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class _Call:
    def __init__(self) -> None:
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """The first caller of a key runs the function; callers arriving meanwhile wait for its outcome."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: dict[Hashable, _Call] = {}

    def do(self, key: Hashable, fn: Callable[[], T]) -> T:
        """Return ``fn()``'s result (or raise its error), shared with concurrent callers of ``key``."""
        with self._cond:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                while not call.done:
                    self._cond.wait()
        if leader:
            try:
                call.result = fn()
            except BaseException as exc:
                call.error = exc
            with self._cond:
                call.done = True
                del self._calls[key]
                self._cond.notify_all()
        if call.error is not None:
            raise call.error
        return call.result

    def in_flight(self, key: Hashable) -> bool:
        with self._cond:
            return key in self._calls
