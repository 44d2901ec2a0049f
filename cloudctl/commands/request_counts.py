"""`cloudctl admin request-counts`: each HTTP daemon's requests by caller, from its GET /request-counts.

The endpoints come from the token's catalog (compute, image, identity); the
counts sit at each one's unversioned root and are shown to admins of the
cell's own identity only. One row per caller and daemon, then the daemon's
anonymous and refused requests (and ``others``: callers beyond its cap).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from cloudctl.client import CloudError
from cloudctl.commands.common import Context, SubParsers
from cloudctl.output import Column, Listing, Result

TASK = "request-counts"
SERVICES = ("compute", "image", "identity")
PATH = "/request-counts"
COLUMNS = [Column("service", "Service"), Column("caller", "Caller"), Column("issuer", "Issuer"),
           Column("user_name", "User"), Column("user_id", "User ID"), Column("project_id", "Project ID"),
           Column("requests", "Requests")]
MACHINE_KEYS = ["service", "endpoint", "since", "caller", "issuer", "user_id", "user_name", "project_id",
                "requests"]
UNNAMED = ("anonymous", "refused", "others")


def handles(command: str, rest: Sequence[str]) -> bool:
    """True for ``admin request-counts ...``, which the CLI serves rather than the launcher."""
    return command == "admin" and list(rest[:1]) == [TASK]


def rows_of(endpoint: str, document: Any) -> list[dict[str, Any]]:
    """Rows of one daemon's answer: its callers (most requests first), then the unnamed counts.

    Raises CloudError if the answer is not a request-counts document.
    """
    callers = document.get("callers") if isinstance(document, dict) else None
    if not isinstance(callers, list) or not all(isinstance(c, dict) for c in callers) \
            or not all(isinstance(document.get(k, 0), int) for k in UNNAMED):
        raise CloudError(f"{endpoint}{PATH} did not answer with request counts")
    base = {"service": document.get("service"), "endpoint": endpoint, "since": document.get("since")}
    rows = [{**base, "caller": "user", **{k: c.get(k) for k in ("issuer", "user_id", "user_name",
                                                                 "project_id", "requests")}}
            for c in sorted(callers, key=lambda c: -int(c.get("requests") or 0))]
    rows += [{**base, "caller": kind, "requests": document.get(kind, 0)} for kind in UNNAMED
             if kind != "others" or document.get(kind)]
    return rows


def do_counts(ctx: Context, args: argparse.Namespace) -> Result:
    session = ctx.client.session
    services = SERVICES if args.service == "all" else (args.service,)
    rows: list[dict[str, Any]] = []
    for service in services:
        # With --service all, one daemon that fails must not hide the others: report it, exit 1.
        try:
            root = session.root(service)
            rows += rows_of(root, session.request_url("GET", root + PATH).json())
        except CloudError as exc:
            if len(services) == 1:
                raise
            ctx.fail(f"{service}: {exc}")
        except ValueError:
            ctx.fail(f"{service}: {PATH} did not answer JSON")
    return Listing(COLUMNS, rows, machine_keys=MACHINE_KEYS)


def register(admin_tasks: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``request-counts`` below the ``admin`` parser's tasks."""
    p = admin_tasks.add_parser(TASK, parents=common,
                               help="requests by caller of each HTTP daemon (admins of the cell)")
    p.add_argument("--service", choices=(*SERVICES, "all"), default="all",
                   help="whose counts: compute (cloud-api), image, identity, or all (default)")
    p.set_defaults(func=do_counts)
