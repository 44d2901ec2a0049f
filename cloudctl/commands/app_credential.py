"""`cloudctl application credential ...`: create (the secret is shown once), list, show, delete.

An application credential belongs to the logged-in user and to the project
of the session's token; its roles are a subset of the roles the user holds
there, so role names are checked against the token before anything is sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import fields, for_each, identity
from cloudctl.identity_client import Identity
from cloudctl.output import Column, Listing, Record, Result

ORDER = ("id", "name", "description", "project_id", "roles", "unrestricted", "expires_at", "secret")
COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("project_id", "Project ID"),
           Column("roles", "Roles"), Column("unrestricted", "Unrestricted"),
           Column("expires_at", "Expires At"), Column("description", "Description")]


def iso_time(text: str) -> str:
    """argparse type: an ISO 8601 time (naive means UTC), returned as Keystone writes it."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2030-01-31T12:00:00, got {text!r}") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def summary(cred: Resource) -> dict[str, Any]:
    """The credential as shown: role names rather than role objects."""
    shown = fields(cred, ORDER)
    shown["roles"] = [r.get("name") or r.get("id") for r in cred.get("roles") or []]
    if shown.get("secret") is None:
        del shown["secret"]
    return shown


def _roles(token: Resource, refs: list[str]) -> list[dict[str, str]]:
    """Match role names or ids against the token's roles; raises CloudError for one not held."""
    held = token.get("roles") or []
    out = []
    for ref in refs:
        match = next((r for r in held if ref in (r.get("id"), r.get("name"))), None)
        if match is None:
            project = (token.get("project") or {}).get("name") or "this project"
            raise CloudError(f"you hold no role '{ref}' on {project}; held: "
                             f"{', '.join(str(r.get('name')) for r in held) or 'none'}")
        out.append({"id": str(match["id"])})
    return out


def _user_id(api: Identity) -> str:
    user_id = (api.me().get("user") or {}).get("id")
    if not user_id:
        raise CloudError("the identity service did not say who you are")
    return str(user_id)


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    token = api.me()
    roles = _roles(token, args.role) if args.role else None
    cred = api.app_credentials.create(_user_id(api), args.name, secret=args.secret, roles=roles,
                                      expires_at=args.expiration, description=args.description,
                                      unrestricted=True if args.unrestricted else None)
    if cred.get("secret"):
        ctx.stderr.write("the secret is shown only now: keep it\n")
    return Record(summary(cred))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    creds = api.app_credentials.list(_user_id(api))
    return Listing(COLUMNS, sorted((summary(c) for c in creds), key=lambda c: str(c["name"])),
                   machine_keys=list(ORDER[:-1]))


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    return Record(summary(api.app_credentials.find(_user_id(api), args.credential)))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    user_id = _user_id(api)
    creds = api.app_credentials
    for_each(ctx, args.credentials, lambda ref: creds.delete(user_id, creds.find(user_id, ref)["id"]))
    return None


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``application credential`` and its verbs."""
    application = sub.add_parser("application", help="application credentials for scripts").add_subparsers(
        dest="what", required=True, metavar="credential")
    noun = application.add_parser("credential", help="your application credentials").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("create", parents=common, help="create one for the current project")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--secret", help="its secret (default: the service generates one)")
    p.add_argument("--role", action="append", metavar="ROLE",
                   help="a role it carries (repeatable; default: all your roles on the project)")
    p.add_argument("--expiration", type=iso_time, metavar="ISO-TIME", help="when it stops working (UTC)")
    p.add_argument("--unrestricted", action="store_true",
                   help="may create further credentials and trusts (dangerous)")
    p.add_argument("--description")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list your application credentials")
    p.set_defaults(func=do_list)

    p = noun.add_parser("show", parents=common, help="show one")
    p.add_argument("credential", metavar="ID|NAME")
    p.set_defaults(func=do_show)

    p = noun.add_parser("delete", parents=common, help="delete some")
    p.add_argument("credentials", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)
