"""Client side of the cells daemon, on the local cell's broker (topic ``cells``).

Any service of a cell uses this to send something to another cell or up the
tree; the cells daemon of the cell does the hop-by-hop routing. Only
primitives and plain dicts travel.

API versions:
  1.0 - route, updates_up, capacity_up, broadcast_down, instance_action

Methods reached only through ``route`` envelopes (dispatched by name in the
target cell, so they need no new wire version): instance_action,
resend_instances, prestage_progress.
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext

TOPIC = "cells"
VERSION = "1.0"


def envelope(target_path: str, topic: str, method: str, args: dict[str, Any],
             version: str = "1.0", server: str | None = None) -> dict[str, Any]:
    """Return a routable message: ``method(**args)`` for ``topic`` (and ``server``) in ``target_path``."""
    return {"target_path": target_path, "topic": topic, "method": method, "args": args,
            "version": version, "server": server}


class CellsAPI:
    """Casts to the cells daemon of the cell whose broker is ``broker_url``."""

    def __init__(self, broker_url: str, retry: int | None = None) -> None:
        self.client = rpc.get_client(broker_url, TOPIC, VERSION, retry=retry)

    def route(self, ctxt: RequestContext, target_path: str, topic: str, method: str,
              args: dict[str, Any], version: str = "1.0", server: str | None = None) -> None:
        """Deliver ``method(ctxt, **args)`` as a cast to ``topic`` in cell ``target_path``."""
        msg = envelope(target_path, topic, method, args, version, server)
        self.client.cast(ctxt, "route", envelopes=[msg])

    def updates_up(self, ctxt: RequestContext, updates: list[dict[str, Any]]) -> None:
        """Send versioned instance states towards the API cell's index.

        Each update is an instance's full state with ``uuid``, ``version`` and
        ``cell_path``; the index applies it only if its version is newer.
        """
        self.client.cast(ctxt, "updates_up", updates=updates)

    def capacity_up(self, ctxt: RequestContext, report: dict[str, Any]) -> None:
        """Hand a capacity report (this cell's or a child's) to the cells daemon."""
        self.client.cast(ctxt, "capacity_up", report=report)

    def broadcast_down(self, ctxt: RequestContext, topic: str, method: str,
                       args: dict[str, Any], version: str = "1.0") -> None:
        """Cast ``method`` to ``topic`` in this cell and every cell below it."""
        # ``method`` is cast()'s own parameter name, so it travels as ``method_name``.
        self.client.cast(ctxt, "broadcast_down", topic=topic, method_name=method, args=args,
                         version=version)

    def instance_action(self, ctxt: RequestContext, cell_path: str, uuid: str, action: str,
                        **kwargs: Any) -> None:
        """Route an action (stop, start, reboot, delete, snapshot) to the cell owning the instance.

        That cell's cells daemon reads the instance's host and casts to its agent.
        ``kwargs``: ``hard`` for reboot; ``image_id`` and ``disk_format`` for snapshot.
        """
        self.route(ctxt, cell_path, TOPIC, "instance_action",
                   {"uuid": uuid, "action": action, "kwargs": kwargs})

    def prestage_progress(self, ctxt: RequestContext, root_path: str, progress: dict[str, Any]) -> None:
        """Route a pre-staging run's progress to the API cell at ``root_path``.

        ``progress`` is ``{id, cell_path, version, status, hosts_total, hosts_done,
        hosts_failed, hosts_cached, from_endpoint, from_peers, depth, failures, error,
        started_at, finished_at}``; the API cell keeps it only if ``version`` is newer.
        """
        self.route(ctxt, root_path, TOPIC, "prestage_progress", {"progress": progress})
