"""The daemon runner: configuration, logging, signals, periodic tasks, WSGI and RPC servers.

A daemon's ``cmd.main`` builds a list of components from the cell's
configuration and hands them to ``run_daemon``; the embedded launcher builds
the components of many daemons and runs them in one process.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from cells import config as config_mod
from cells.config import CellConfig, Endpoint
from cells.exception import ConfigError

LOG = logging.getLogger(__name__)


class Component(Protocol):
    """Anything a daemon starts and stops: servers, periodic tasks, agents."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


# --- logging -----------------------------------------------------------------

_SECRET_PATTERNS = [
    (re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"), "***token***"),
    (re.compile(r"(?i)(\"?password\"?\s*[:=]\s*\"?)[^\"\s,}]+"), r"\1***"),
    (re.compile(r"(?i)(x-(?:auth|subject)-token\"?\s*[:=]\s*\"?)[^\"\s,}]+"), r"\1***"),
    (re.compile(r"(?i)(\"?secret\"?\s*[:=]\s*\"?)[^\"\s,}]+"), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@/\s]+@"), r"\1***@"),
]


def redact(text: str) -> str:
    """Return ``text`` with tokens, passwords and URL credentials masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in every record, whatever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(conf: CellConfig | None, daemon: str) -> None:
    """Configure the root logger for one daemon, with secret redaction on every handler."""
    level = conf.log_level if conf else "INFO"
    cell = conf.path if conf else "-"
    handler: logging.Handler
    if conf and conf.log_file:
        os.makedirs(os.path.dirname(os.path.abspath(conf.log_file)), exist_ok=True)
        handler = logging.FileHandler(conf.log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(
        f"%(asctime)s %(process)d %(levelname)s {daemon} [{cell}] %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "urllib3", "cheroot", "werkzeug", "stevedore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


# --- components --------------------------------------------------------------

class PeriodicTask:
    """Runs ``fn`` every ``interval`` seconds in its own thread; errors are logged, not fatal."""

    def __init__(self, name: str, interval: float, fn: Callable[[], Any],
                 initial_delay: float | None = None) -> None:
        self.name = name
        self.interval = interval
        self.fn = fn
        self.initial_delay = interval if initial_delay is None else initial_delay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self.initial_delay):
            return
        while True:
            started = time.monotonic()
            try:
                self.fn()
            except Exception:  # noqa: BLE001 - a periodic task must survive any one failure
                LOG.exception("periodic task %s failed", self.name)
            if self._stop.wait(max(0.0, self.interval - (time.monotonic() - started))):
                return

    def stop(self) -> None:
        self._stop.set()


class RpcServer:
    """Wraps an oslo.messaging server as a component."""

    def __init__(self, name: str, server: Any) -> None:
        self.name = name
        self.server = server

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.server.wait()


class WsgiServer:
    """A threaded WSGI server (cheroot) for one endpoint."""

    def __init__(self, name: str, app: Callable[..., Any], endpoint: Endpoint) -> None:
        from cheroot import wsgi

        self.name = name
        self.endpoint = endpoint
        self.server = wsgi.Server((endpoint.host, endpoint.port), app,
                                  numthreads=endpoint.threads, server_name=name,
                                  request_queue_size=256, timeout=60)
        # Large uploads stream through; no body size limit at this layer.
        self.server.max_request_body_size = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.server.prepare()
        except OSError as exc:
            where = f"{self.endpoint.host}:{self.endpoint.port}"
            reason = exc.args[0] if exc.args else exc
            if "in use" in str(reason):
                reason = "the address is already in use"
            raise ConfigError(f"{self.name}: cannot listen on {where}: {reason}") from exc
        self._thread = threading.Thread(target=self.server.serve, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.stop()


class FunctionComponent:
    """Adapts a pair of start/stop callables."""

    def __init__(self, name: str, start: Callable[[], Any], stop: Callable[[], Any]) -> None:
        self.name = name
        self._start, self._stop = start, stop

    def start(self) -> None:
        self._start()

    def stop(self) -> None:
        self._stop()


def start_all(components: Iterable[Component]) -> list[Component]:
    """Start components in order; on a failure stop those started and re-raise."""
    started: list[Component] = []
    try:
        for component in components:
            component.start()
            started.append(component)
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(components: Sequence[Component]) -> None:
    """Stop components in reverse order, logging (not raising) individual failures."""
    for component in reversed(components):
        try:
            component.stop()
        except Exception:  # noqa: BLE001 - keep stopping the others
            LOG.exception("stopping %s failed", component.name)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        LOG.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.wait(1.0):
        pass


# --- entry point -------------------------------------------------------------

Builder = Callable[[CellConfig, argparse.Namespace], list[Component]]


def base_parser(daemon: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=daemon, description=description)
    parser.add_argument("--config", default=os.environ.get("CLOUD_CONFIG"),
                        help="the cell's YAML file (default: $CLOUD_CONFIG)")
    return parser


def load_config(daemon: str, path: str | None) -> CellConfig:
    """Load the cell's YAML or exit(2) with one line naming the file and key."""
    if not path:
        print(f"{daemon}: no configuration: pass --config FILE or set CLOUD_CONFIG", file=sys.stderr)
        raise SystemExit(2)
    try:
        return config_mod.load(path)
    except ConfigError as exc:
        print(f"{daemon}: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from exc


def run_daemon(daemon: str, build: Builder, argv: list[str] | None = None,
               parser: argparse.ArgumentParser | None = None) -> int:
    """Parse arguments, load the cell's configuration, start the components, run until a signal."""
    parser = parser or base_parser(daemon, daemon)
    args = parser.parse_args(argv)
    conf = load_config(daemon, args.config)
    setup_logging(conf, daemon)
    try:
        components = build(conf, args)
        started = start_all(components)
    except ConfigError as exc:
        print(f"{daemon}: {exc.message}", file=sys.stderr)
        return 2
    LOG.info("%s started in cell %s", daemon, conf.path)
    try:
        wait_for_signal()
    finally:
        stop_all(started)
    return 0
