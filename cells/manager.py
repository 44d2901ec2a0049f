"""The cells daemon: routes messages between cells and keeps the API cell's index current.

Server side of ``cells/rpcapi.py``. Every cell runs one (or several, sharing
the ``cells`` topic). It forwards envelopes hop by hop, delivers those meant
for its own cell to the local topic, passes instance updates and capacity
reports up, and at the API cell applies updates to the instance index.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from cells import cell_ops, index, prestages, rpc, tree
from cells.capacity import capacity_model, compute_report, store_report
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.engine import Database
from cells.forwarder import Forwarder
from cells.instances import from_row
from cells.rpcapi import TOPIC, envelope

LOG = logging.getLogger(__name__)

# Cells actions -> (agent method, extra arguments taken from the action's kwargs, its RPC version).
_AGENT_METHODS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "stop": ("stop_instance", (), "1.0"),
    "start": ("start_instance", (), "1.0"),
    "reboot": ("reboot_instance", ("hard",), "1.0"),
    "delete": ("terminate_instance", (), "1.0"),
    "snapshot": ("snapshot_instance", ("image_id", "disk_format"), "1.1"),
}


class CellsManager:
    target = rpc.target("1.0")

    def __init__(self, conf: CellConfig, db: Database) -> None:
        self.conf = conf
        self.db = db
        self.forwarders: dict[str, Forwarder] = {}
        if conf.parent_path and conf.parent_broker_url:
            self.forwarders[conf.parent_path] = Forwarder(conf.parent_path, conf.parent_broker_url)
        for child in conf.children:
            self.forwarders[child.path] = Forwarder(child.path, child.broker_url)
        self._clients: dict[tuple[str, str | None, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._sync_cursor = ""

    # --- RPC endpoints ---------------------------------------------------------

    def route(self, ctxt: RequestContext, envelopes: list[dict[str, Any]]) -> None:
        for env in envelopes:
            env.setdefault("context", ctxt.to_dict())
            try:
                hop = tree.next_hop(self.conf.path, env["target_path"])
            except ValueError:
                LOG.error("dropping %s for unknown cell %s", env["method"], env["target_path"])
                continue
            if hop is None:
                try:
                    self._deliver(env)
                except Exception:  # noqa: BLE001 - one bad envelope must not drop the batch
                    LOG.exception("delivering %s to %s failed", env["method"], env["topic"])
            elif hop in self.forwarders:
                self.forwarders[hop].route(env)
            else:
                LOG.error("dropping %s: no route from %s to %s", env["method"], self.conf.path,
                          env["target_path"])

    def updates_up(self, ctxt: RequestContext, updates: list[dict[str, Any]]) -> None:
        self._send_up(updates)

    def capacity_up(self, ctxt: RequestContext, report: dict[str, Any]) -> None:
        store_report(self.db, capacity_model(self.conf.type), report)
        if not self.conf.is_root:
            self.forwarders[self.conf.parent_path or ""].capacity(report)

    def broadcast_down(self, ctxt: RequestContext, topic: str, method_name: str,
                       args: dict[str, Any], version: str = "1.0") -> None:
        self._deliver(envelope(self.conf.path, topic, method_name, args, version)
                      | {"context": ctxt.to_dict()})
        for child in self.conf.children:
            self.forwarders[child.path].route(
                envelope(child.path, TOPIC, "broadcast_down",
                         {"topic": topic, "method_name": method_name, "args": args,
                          "version": version})
                | {"context": ctxt.to_dict()})

    def instance_action(self, ctxt: RequestContext, uuid: str, action: str,
                        kwargs: dict[str, Any]) -> None:
        """Hand an action to the instance's agent, or do a delete here when no agent can."""
        row = cell_ops.get_instance(self.db, uuid)
        update: dict[str, Any] | None = None
        if row is None:
            if action != "delete":
                LOG.warning("%s for unknown instance %s ignored", action, uuid)
                return
            update = cell_ops.tombstone(self.db, uuid, self.conf.path, kwargs)
            if update is None:  # the build's row appeared meanwhile: delete that
                row = cell_ops.get_instance(self.db, uuid)
                if row is None:
                    return
        if update is not None:
            pass
        elif row is None:
            return
        elif row.deleted:
            update = from_row(row, self.conf.path)
        elif row.host is None or not cell_ops.host_is_up(
                self.db, row.host, self.conf.service_down_time):
            if action == "delete":
                update = cell_ops.delete_locally(self.db, uuid, self.conf.path)
            else:
                # No agent can act: resend the truth so the index drops its task state.
                LOG.warning("%s of instance %s refused: host %s is %s", action, uuid, row.host,
                            "unknown" if row.host is None else "down")
                update = from_row(row, self.conf.path) | {"sync": True, "refused": action}
        else:
            method, extra, version = _AGENT_METHODS[action]
            args = {"uuid": uuid} | {k: kwargs[k] for k in extra if k in kwargs}
            self._cast_local(ctxt, "compute", row.host, version, method, args)
            return
        if update:
            self._send_up([update])

    def resend_instances(self, ctxt: RequestContext, uuids: list[str]) -> None:
        """Send the current state of ``uuids`` up (sync), and say which are unknown here."""
        rows = cell_ops.rows_by_uuid(self.db, uuids)
        updates = [from_row(rows[u], self.conf.path) | {"sync": True} if u in rows
                   else {"uuid": u, "missing": True, "cell_path": self.conf.path} for u in uuids]
        self._send_up(updates)

    def prestage_progress(self, ctxt: RequestContext, progress: dict[str, Any]) -> None:
        """API cell: record how far a compute cell's pre-staging run got (applied if newer)."""
        if not self.conf.is_root:
            LOG.error("prestage_progress reached cell %s, not the API cell: dropped", self.conf.path)
            return
        prestages.apply_progress(self.db, progress)

    # --- periodic tasks --------------------------------------------------------

    def report_capacity(self) -> None:
        """Compute cells: send this cell's capacity up."""
        report = compute_report(self.db, self.conf.path, self.conf.service_down_time)
        self.forwarders[self.conf.parent_path or ""].capacity(report)

    def sync_up(self) -> None:
        """Compute cells: re-send the next bounded batch of instance states up."""
        rows = cell_ops.sync_batch(self.db, self._sync_cursor, self.conf.sync_batch)
        self._sync_cursor = rows[-1].uuid if len(rows) == self.conf.sync_batch else ""
        if rows:
            self._send_up([from_row(r, self.conf.path) | {"sync": True} for r in rows])

    def resolve_deadlines(self) -> None:
        """Compute cells: resolve transitional states whose deadline passed (agents first)."""
        grace = max(60.0, 2 * self.conf.heartbeat_interval)
        updates = []
        for row in cell_ops.overdue(self.db, grace, self.conf.sync_batch):
            update = cell_ops.resolve_timeout(self.db, row, self.conf.path)
            if update:
                updates.append(update)
        if updates:
            LOG.warning("resolved %d instances past their deadline", len(updates))
            self._send_up(updates)

    def heal_index(self) -> None:
        """API cell: expire lost schedules and silent pre-staging runs; ask cells to resend stuck ones."""
        index.expire_unscheduled(self.db, self.conf.transition_timeout)
        prestages.expire_stale(self.db, self.conf.transition_timeout)
        stale = index.stale_by_cell(self.db, self.conf.transition_timeout / 4, self.conf.sync_batch)
        for cell_path, uuids in stale.items():
            self.route(RequestContext.admin(self.conf.path),
                       [envelope(cell_path, TOPIC, "resend_instances", {"uuids": uuids})])

    # --- helpers ---------------------------------------------------------------

    def _send_up(self, updates: list[dict[str, Any]]) -> None:
        if self.conf.is_root:
            index.apply_updates(self.db, updates)
            return
        parent = self.forwarders[self.conf.parent_path or ""]
        for update in updates:
            parent.update(update)

    def _deliver(self, env: dict[str, Any]) -> None:
        ctxt = RequestContext.from_dict(env.get("context") or {})
        if env["topic"] == TOPIC:
            method = getattr(self, env["method"], None)
            if method is None or env["method"].startswith("_"):
                LOG.error("unknown cells method %s", env["method"])
                return
            method(ctxt, **env["args"])
            return
        self._cast_local(ctxt, env["topic"], env.get("server"), env.get("version", "1.0"),
                         env["method"], env["args"])

    def _cast_local(self, ctxt: RequestContext, topic: str, server: str | None, version: str,
                    method: str, args: dict[str, Any]) -> None:
        key = (topic, server, version)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = rpc.get_client(self.conf.broker_url, topic, version, server=server)
                self._clients[key] = client
        client.cast(ctxt, method, **args)
