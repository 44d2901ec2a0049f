"""libvirt's default event loop, run in one native thread per process.

libvirt keeps its event implementation in process-global state: it must be
registered once, before the connections that want events are opened, and
its loop driven by one thread. That is why this module holds the one flag
saying it has been started.
"""

from __future__ import annotations

import logging
import threading

import libvirt  # type: ignore[import-untyped]

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_started = False


def _run() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:  # keep the loop alive; one bad event must not stop the others
            LOG.exception("libvirt event loop iteration failed")


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation and start its thread, once per process."""
    global _started
    with _lock:
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="libvirt-events", daemon=True).start()
        _started = True
