"""`cloudctl user ...`: create, list, show, set, delete, and `user password set` for one's own password.

Passwords never appear on the command line: they come from a prompt or
from the first line of a file.
"""

from __future__ import annotations

import argparse
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import (
    enabled_flags,
    fields,
    for_each,
    identity,
    prompt_secret,
    read_secret_file,
)
from cloudctl.identity_client import Identity
from cloudctl.output import Column, Listing, Record, Result

ORDER = ("id", "name", "domain_id", "enabled", "email", "default_project_id", "description",
         "personal", "is_service", "password_expires_at")
COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("domain_id", "Domain"),
           Column("enabled", "Enabled"), Column("email", "Email"),
           Column("default_project_id", "Default Project")]


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        return read_secret_file(args.password_file, "password")
    if args.password_prompt:
        return prompt_secret("User Password")
    return None


def _project_id(api: Identity, ref: str | None) -> str | None:
    return api.projects.find(ref)["id"] if ref else None


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    password = _password(args)
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    extra: dict[str, Any] = {}
    if args.personal:
        extra["personal"] = True
    if args.service:
        extra["is_service"] = True
    user = api.users.create(name=args.name, domain_id=domain, password=password, email=args.email,
                            default_project_id=_project_id(api, args.project), description=args.description,
                            enabled=not args.disable, **extra)
    return Record(fields(user, ORDER))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    users = api.users.list(domain_id=domain)
    return Listing(COLUMNS, sorted((fields(u, ORDER) for u in users), key=lambda u: str(u["name"])),
                   machine_keys=list(ORDER))


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    return Record(fields(identity(ctx).users.find(args.user), ORDER))


def do_set(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    user_id = api.users.find(args.user)["id"]
    changes = {"name": args.name, "email": args.email, "description": args.description,
               "enabled": args.enabled, "default_project_id": _project_id(api, args.project),
               "password": _password(args)}
    if all(v is None for v in changes.values()):
        raise CloudError("nothing to change: pass --name, --email, --description, --project, "
                         "--password-file, --password-prompt, --enable or --disable")
    user: Resource = api.users.update(user_id, **changes)
    return Record(fields(user, ORDER))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    for_each(ctx, args.users, lambda ref: api.users.delete(api.users.find(ref)["id"]))
    return None


def do_password_set(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    user_id = (api.me().get("user") or {}).get("id")
    if not user_id:
        raise CloudError("the identity service did not say who you are")
    original = read_secret_file(args.original_password_file, "current password") \
        if args.original_password_file else prompt_secret("Current Password", confirm=False)
    new = read_secret_file(args.password_file, "new password") if args.password_file \
        else prompt_secret("New Password")
    api.users.change_password(user_id, original, new)
    ctx.stderr.write("password changed; tokens issued before now no longer work\n")
    return None


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-prompt", action="store_true", help="ask for the password (twice)")
    group.add_argument("--password-file", metavar="FILE", help="read the password from the file's first line")


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``user`` and its verbs."""
    noun = sub.add_parser("user", help="users").add_subparsers(dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("create", parents=common, help="create a user")
    p.add_argument("name", metavar="NAME")
    _password_options(p)
    p.add_argument("--email")
    p.add_argument("--description")
    default_project = p.add_mutually_exclusive_group()
    default_project.add_argument("--project", metavar="ID|NAME", help="the user's default project")
    default_project.add_argument("--personal", action="store_true",
                                 help="also create the project 'Personal NAME' (the personal quota class, "
                                      "the member role) as the default project")
    p.add_argument("--domain", metavar="ID|NAME", help="the user's domain (default: yours)")
    p.add_argument("--service", action="store_true", help="a service account (the only kind a cell accepts)")
    p.add_argument("--disable", action="store_true", help="create it disabled")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list users")
    p.add_argument("--domain", metavar="ID|NAME", help="only users of this domain")
    p.set_defaults(func=do_list)

    p = noun.add_parser("show", parents=common, help="show a user")
    p.add_argument("user", metavar="ID|NAME")
    p.set_defaults(func=do_show)

    p = noun.add_parser("set", parents=common, help="change a user (admin)")
    p.add_argument("user", metavar="ID|NAME")
    p.add_argument("--name", help="new name")
    p.add_argument("--email")
    p.add_argument("--description")
    p.add_argument("--project", metavar="ID|NAME", help="new default project")
    _password_options(p)
    enabled_flags(p, "user")
    p.set_defaults(func=do_set)

    p = noun.add_parser("delete", parents=common, help="delete users")
    p.add_argument("users", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)

    password = noun.add_parser("password", help="your own password").add_subparsers(
        dest="password_verb", required=True, metavar="VERB")
    p = password.add_parser("set", parents=common, help="change your password (asks for the current one)")
    p.add_argument("--original-password-file", metavar="FILE",
                   help="read the current password from a file instead of asking")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the new password from a file instead of asking")
    p.set_defaults(func=do_password_set)
