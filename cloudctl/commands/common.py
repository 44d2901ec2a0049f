"""What every command shares: the run context, k=v parsing, progress lines and waiting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TextIO

from cloudctl.client import Client, CloudError, Resource, WaitTimeout
from cloudctl.output import Result

Handler = Callable[["Context", argparse.Namespace], Result]
SubParsers = Any  # argparse's subparsers action has no public type


@dataclass
class Context:
    """Per-invocation state: which cloud, where progress goes, and the exit code so far."""

    cloud: str | None = None
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    client_factory: Callable[[str | None], Client] = Client.from_cloud
    exit_code: int = 0
    _client: Client | None = None

    @property
    def client(self) -> Client:
        """The client, built (and logged in) on first use so parsing never needs a cloud."""
        if self._client is None:
            self._client = self.client_factory(self.cloud)
        return self._client

    def fail(self, message: str) -> None:
        """Report one failure on stderr and make the command exit 1."""
        self.stderr.write(f"error: {message}\n")
        self.stderr.flush()
        self.exit_code = 1


def key_value(text: str) -> tuple[str, str]:
    """argparse type for ``k=v``; a missing '=' or empty key is a usage error (exit 2)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def positive_int(text: str) -> int:
    """argparse type for a count > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type for a size >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {value}")
    return value


def add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until {what}, showing progress")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="give up waiting after this long (default: 600)")


class ProgressLine:
    """Shows a server's status changes on stderr: ``web1: BUILD ... ACTIVE (3.2 s)``.

    On a terminal one line is rewritten in place; elsewhere each change is a new line.
    """

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.history: list[str] = []
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, status: str, elapsed: float) -> None:
        self.history.append(status)
        line = f"{self.label}: {' ... '.join(self.history)} ({elapsed:.1f} s)"
        self.stream.write(f"\r\x1b[K{line}" if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.history:
            self.stream.write("\n")
            self.stream.flush()


def wait_server(ctx: Context, server_id: str, label: str, statuses: Collection[str],
                timeout: float) -> Resource | None:
    """Wait for a server to settle with progress; flags exit 1 on ERROR or timeout.

    Returns the server (None once deleted, or after a failure).
    """
    progress = ProgressLine(label, ctx.stderr)
    try:
        server = ctx.client.servers.wait_for(server_id, statuses, timeout=timeout, progress=progress)
    except WaitTimeout as exc:
        progress.close()
        ctx.fail(exc.message)
        return None
    except CloudError:
        progress.close()
        raise
    progress.close()
    if server is not None and server.get("status") == "ERROR":
        fault = server.get("fault") or {}
        ctx.fail(f"server {label} went to ERROR" + (f": {fault['message']}" if fault.get("message") else ""))
    return server
