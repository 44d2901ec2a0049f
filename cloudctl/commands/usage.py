"""`cloudctl usage report`: usage per project, cell or flavor from Compute's os-accounting.

A table for people (hours, human byte counts, a total row), ``-f csv|json``
with raw numbers for scripts, and ``--plot FILE.png|FILE.svg`` drawing the
chosen metric per group over time.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cloudctl import accounting
from cloudctl.client import CloudError
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import identity
from cloudctl.output import Column, Listing, Result

GROUP_BY = ("project", "cell", "flavor")
GRANULARITIES = ("hour", "day", "month")
PLOT_EXTENSIONS = (".png", ".svg")
MACHINE_KEYS = list(accounting.ROW_KEYS)


def _indented(row: Mapping[str, Any]) -> str:
    return "  " * int(row.get("depth") or 0) + str(row.get("name") or row.get("group"))


def _hours(key: str) -> Any:
    return lambda r: accounting.hours(r.get(key))


def _bytes(key: str) -> Any:
    return lambda r: accounting.human_bytes(r.get(key))


COLUMNS = [Column("name", "Group", _indented),
           Column("vcpu_hours", "vCPU-h", _hours("vcpu_hours")),
           Column("hs06_hours", "HS06-h", _hours("hs06_hours")),
           Column("ram_gb_hours", "RAM GB-h", _hours("ram_gb_hours")),
           Column("disk_gb_hours", "disk GB-h", _hours("disk_gb_hours")),
           Column("net_in_bytes", "net in", _bytes("net_in_bytes")),
           Column("net_out_bytes", "net out", _bytes("net_out_bytes"))]


class UsageListing(Listing):
    """The groups' rows; the table also shows a total row, which scripts (csv, json) compute themselves."""

    def machine(self) -> list[dict[str, Any]]:
        return [{k: row.get(k) for k in MACHINE_KEYS} for row in self.rows if not row.get("is_total")]


def _time(text: str) -> dt.datetime:
    try:
        return accounting.parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or date-time, got {text!r}") from None


def _plot_file(text: str) -> str:
    if not text.lower().endswith(PLOT_EXTENSIONS):
        raise argparse.ArgumentTypeError(f"cannot draw {text!r}: name a .png or .svg file")
    return text


def usage_error(ctx: Context, message: str) -> None:
    """Report a bad combination of options as argparse does: a message and exit code 2."""
    ctx.stderr.write(f"cloudctl usage report: error: {message}\n")
    ctx.stderr.flush()
    ctx.exit_code = 2


def build_listing(body: Any, tree: bool) -> tuple[UsageListing, dict[str, Any], list[dict[str, Any]]]:
    """Return the listing (rows, then a total row), the report header and the groups of an answer.

    Raises AccountingError if the answer is not an accounting document.
    """
    header, found = accounting.groups(body)
    rows = accounting.report_rows(found, tree=tree)
    listing = UsageListing(COLUMNS, [*rows, {**accounting.total_row(rows, tree=tree), "is_total": True}],
                           machine_keys=MACHINE_KEYS)
    return listing, header, found


def do_report(ctx: Context, args: argparse.Namespace) -> Result:
    now = dt.datetime.now(dt.UTC)
    start = args.start or accounting.month_start(now)
    end = args.end or now
    if args.tree and args.group_by != "project":
        usage_error(ctx, "--tree needs --group-by project")
        return None
    if start >= end:
        usage_error(ctx, f"--start ({accounting.iso(start)}) must be before --end ({accounting.iso(end)})")
        return None
    params = {"start": accounting.iso(start), "end": accounting.iso(end), "granularity": args.granularity,
              "group_by": "parent" if args.tree else args.group_by}
    if args.project:
        params["project_id"] = identity(ctx).projects.find(args.project)["id"]
    body = ctx.client.session.request("compute", "GET", "/os-accounting", params=params).json()
    listing, header, found = build_listing(body, args.tree)
    if args.plot:
        from cloudctl import usage_plot  # matplotlib is loaded only for a plot

        order = {row["group"]: i for i, row in enumerate(listing.rows)}
        depth = {row["group"]: row["depth"] for row in listing.rows}
        shown = [{**g, "depth": depth.get(g["key"])} for g in sorted(found, key=lambda g: order[g["key"]])]
        try:
            usage_plot.draw(args.plot, shown, args.metric,
                            {**params, **{k: v for k, v in header.items() if v}}, tree=args.tree)
        except OSError as exc:
            raise CloudError(f"cannot write {args.plot}: {exc.strerror or exc}") from exc
        ctx.stderr.write(f"wrote {args.plot}\n")
    return listing


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``usage report``."""
    noun = sub.add_parser("usage", help="resource usage reports (accounting)").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("report", parents=common, help="usage per project, cell or flavor over a period")
    p.add_argument("--start", type=_time, metavar="ISO",
                   help="start of the period, a date or date-time (default: start of this month, UTC)")
    p.add_argument("--end", type=_time, metavar="ISO", help="end of the period (default: now)")
    p.add_argument("--group-by", choices=GROUP_BY, default="project", help="one row per (default: project)")
    p.add_argument("--tree", action="store_true",
                   help="each project with its whole subtree summed, indented (with --group-by project)")
    p.add_argument("--granularity", choices=GRANULARITIES, default="day",
                   help="length of the plotted periods (default: day)")
    p.add_argument("--project", metavar="PROJECT", help="only this project (name or id)")
    p.add_argument("--metric", choices=accounting.PLOT_METRICS, default="vcpu_hours",
                   help="what --plot draws (default: vcpu_hours)")
    p.add_argument("--plot", type=_plot_file, metavar="FILE",
                   help="also draw the metric per group over time to FILE.png or FILE.svg")
    p.set_defaults(func=do_report)
