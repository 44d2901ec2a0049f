"""`cloudctl token issue|revoke`: a fresh project-scoped token for scripts, and revoking one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import identity
from cloudctl.output import Record, Result


def summary(token: str, body: Resource) -> dict[str, Any]:
    """Return what `token issue` shows; the token itself is printed, never logged."""
    project = body.get("project") or {}
    return {"id": token, "expires": body.get("expires_at"), "user_id": (body.get("user") or {}).get("id"),
            "project_id": project.get("id"), "project_name": project.get("name"),
            "roles": [r.get("name") or r.get("id") for r in body.get("roles") or []]}


def do_issue(ctx: Context, args: argparse.Namespace) -> Result:
    token, body = identity(ctx).issue_token(args.project)
    return Record(summary(token, body))


def do_revoke(ctx: Context, args: argparse.Namespace) -> Result:
    # "-" reads the token from stdin, keeping it out of the process list and shell history.
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    if not token:
        raise CloudError("no token given")
    identity(ctx).revoke_token(token)
    return None


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``token issue`` and ``token revoke``."""
    noun = sub.add_parser("token", help="identity tokens").add_subparsers(dest="verb", required=True,
                                                                          metavar="VERB")
    p = noun.add_parser("issue", parents=common, help="log in and print a new token")
    p.add_argument("--project", metavar="ID|NAME",
                   help="scope to this project (a name is looked up in the cloud's project domain)")
    p.set_defaults(func=do_issue)

    p = noun.add_parser("revoke", parents=common, help="revoke a token")
    p.add_argument("token", metavar="TOKEN", help="the token, or - to read it from stdin")
    p.set_defaults(func=do_revoke)
