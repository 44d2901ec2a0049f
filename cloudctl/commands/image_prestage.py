"""`cloudctl image prestage|prestage-show|prestage-list`: push an image to every host of a cell.

``prestage`` starts a run (admin), then by default waits for it, showing the
hosts done and failed of the total, and ends with a report: hosts done (how
many from peers, from the cell's endpoint, already cached), the hosts that
failed and why, and the time taken. The exit status is 1 if any host failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, TextIO

from cloudctl.client import CloudError, Resource, WaitTimeout
from cloudctl.commands.common import Context, SubParsers, non_negative_int, positive_int
from cloudctl.output import Column, Listing, Record, Result

LIST_COLUMNS = [Column("id", "ID"), Column("image", "Image"), Column("cell", "Cell"),
                Column("status", "Status"),
                Column("hosts", "Hosts Done", lambda r: f"{r.get('hosts_done')}/{r.get('hosts_total')}"),
                Column("hosts_failed", "Failed"), Column("created_at", "Created")]


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f} s"


def report(run: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a run as the CLI shows them (show, and the final report of a wait)."""
    return {
        "id": run.get("id"),
        "image": run.get("image_name") or run.get("image_id"),
        "image_id": run.get("image_id"),
        "cell": run.get("cell"),
        "status": run.get("status"),
        "hosts_total": run.get("hosts_total"),
        "hosts_done": run.get("hosts_done"),
        "hosts_failed": run.get("hosts_failed"),
        "from_peers": run.get("from_peers"),
        "from_endpoint": run.get("from_endpoint"),
        "hosts_cached": run.get("hosts_cached"),
        "depth": run.get("depth"),
        "endpoint_copies": run.get("endpoint_copies"),
        "peer_copies": run.get("peer_copies"),
        "elapsed": _seconds(run.get("elapsed")),
        "failures": dict(run.get("failures") or {}),
        "error": run.get("error"),
        "created_at": run.get("created_at"),
        "finished_at": run.get("finished_at"),
    }


class ProgressLine:
    """``prestage cirros to top!cell1: 12/50 done, 1 failed (3.2 s)`` on stderr, as it moves.

    On a terminal one line is rewritten in place; elsewhere each change is a new line.
    """

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = False

    def __call__(self, run: Resource, elapsed: float) -> None:
        if run.get("status") == "queued":
            state = "queued"
        else:
            state = (f"{run.get('hosts_done') or 0}/{run.get('hosts_total') or 0} done, "
                     f"{run.get('hosts_failed') or 0} failed")
        line = f"{self.label}: {state} ({elapsed:.1f} s)"
        self.stream.write(f"\r\x1b[K{line}" if self.tty else line + "\n")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def cell_path(ctx: Context, cell: str) -> str:
    """A compute cell's path from its path or its name (looked up in os-cells)."""
    if "!" in cell:
        return cell
    matches = [str(c["path"]) for c in ctx.client.cells.list()
               if c.get("type") == "compute" and (c.get("name") or str(c["path"]).rpartition("!")[2]) == cell]
    if not matches:
        raise CloudError(f"no compute cell is named {cell!r}; see `cloudctl cell list`")
    if len(matches) > 1:
        raise CloudError(f"more than one compute cell is named {cell!r} ({', '.join(matches)}); "
                         "give its path")
    return matches[0]


def _judge(ctx: Context, run: Mapping[str, Any]) -> None:
    """Flag exit 1 for a run that ended in error or left hosts without the image."""
    failed, total = run.get("hosts_failed") or 0, run.get("hosts_total") or 0
    if run.get("status") == "error":
        ctx.fail(f"pre-staging {run.get('id')} failed: {run.get('error') or 'unknown error'}")
    elif failed:
        reasons = "; ".join(f"{host}: {why}" for host, why in sorted((run.get("failures") or {}).items()))
        ctx.fail(f"{failed} of {total} hosts failed: {reasons}")


def do_prestage(ctx: Context, args: argparse.Namespace) -> Result:
    client = ctx.client
    image = client.images.find(args.image)
    cell = cell_path(ctx, args.cell)
    run = client.prestages.create(image["id"], cell, endpoint_copies=args.endpoint_copies,
                                  peer_copies=args.peer_copies)
    if not args.wait:
        return Record(report(run))
    progress = ProgressLine(f"prestage {image.get('name') or image['id']} to {cell}", ctx.stderr)
    try:
        run = client.prestages.wait_for(run["id"], timeout=args.timeout, progress=progress)
    except WaitTimeout as exc:
        progress.close()
        ctx.fail(exc.message)
        return Record(report(client.prestages.get(run["id"])))
    progress.close()
    _judge(ctx, run)
    return Record(report(run))


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    return Record(report(ctx.client.prestages.get(args.id)))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    return Listing(LIST_COLUMNS, [report(r) for r in ctx.client.prestages.list(limit=args.limit)])


def register(noun: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add the pre-staging verbs to ``image``'s subparsers."""
    p = noun.add_parser("prestage", parents=common,
                        help="copy an image to every host of a compute cell ahead of a boot storm (admin)")
    p.add_argument("image", metavar="ID|NAME")
    p.add_argument("--cell", required=True, help="compute cell: its path (top!cell1) or its name")
    p.add_argument("--endpoint-copies", type=positive_int, metavar="N",
                   help="for this run: copies the cell's image endpoint serves at once (1-16; "
                        "default: the cell's scheduler.prestage.endpoint_copies)")
    p.add_argument("--peer-copies", type=non_negative_int, metavar="N",
                   help="for this run: copies each host holding the image serves at once (0-16; 0: "
                        "every host copies from the endpoint; default: the cell's configuration)")
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                   help="wait for the end, showing progress, then report (default: --wait)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="give up waiting after this long (default: 3600)")
    p.set_defaults(func=do_prestage)

    p = noun.add_parser("prestage-show", parents=common, help="show one pre-staging run (admin)")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=do_show)

    p = noun.add_parser("prestage-list", parents=common, help="list pre-staging runs, newest first (admin)")
    p.add_argument("--limit", type=positive_int, help="at most this many runs")
    p.set_defaults(func=do_list)
