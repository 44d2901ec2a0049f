"""`cloudctl group ...`: create, list, show, delete, and membership (add/remove user, members)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import fields, for_each, identity
from cloudctl.commands.user import COLUMNS as USER_COLUMNS
from cloudctl.commands.user import ORDER as USER_ORDER
from cloudctl.output import Column, Listing, Record, Result

ORDER = ("id", "name", "domain_id", "description")
COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("domain_id", "Domain"),
           Column("description", "Description")]


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    return Record(fields(api.groups.create(name=args.name, domain_id=domain, description=args.description),
                         ORDER))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    rows = sorted((fields(g, ORDER) for g in api.groups.list(domain_id=domain)), key=lambda g: str(g["name"]))
    return Listing(COLUMNS, rows, machine_keys=list(ORDER))


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    return Record(fields(identity(ctx).groups.find(args.group), ORDER))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    for_each(ctx, args.groups, lambda ref: api.groups.delete(api.groups.find(ref)["id"]))
    return None


def do_members(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    users = api.groups.members(api.groups.find(args.group)["id"])
    rows = sorted((fields(u, USER_ORDER) for u in users), key=lambda u: str(u["name"]))
    return Listing(USER_COLUMNS, rows, machine_keys=list(USER_ORDER))


def _membership(add: bool) -> Callable[[Context, argparse.Namespace], Result]:
    def run(ctx: Context, args: argparse.Namespace) -> Result:
        api = identity(ctx)
        group_id = api.groups.find(args.group)["id"]
        change = api.groups.add_user if add else api.groups.remove_user
        for_each(ctx, args.users, lambda ref: change(group_id, api.users.find(ref)["id"]))
        return None

    return run


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``group`` and its verbs."""
    noun = sub.add_parser("group", help="groups of users").add_subparsers(dest="verb", required=True,
                                                                         metavar="VERB")
    p = noun.add_parser("create", parents=common, help="create a group")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--domain", metavar="ID|NAME", help="its domain (default: yours)")
    p.add_argument("--description")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list groups")
    p.add_argument("--domain", metavar="ID|NAME", help="only groups of this domain")
    p.set_defaults(func=do_list)

    p = noun.add_parser("show", parents=common, help="show a group")
    p.add_argument("group", metavar="ID|NAME")
    p.set_defaults(func=do_show)

    p = noun.add_parser("delete", parents=common, help="delete groups")
    p.add_argument("groups", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)

    p = noun.add_parser("members", parents=common, help="list the users of a group")
    p.add_argument("group", metavar="ID|NAME")
    p.set_defaults(func=do_members)

    for verb, add, text in (("add", True, "add users to a group"),
                            ("remove", False, "remove users from a group")):
        what = noun.add_parser(verb, help=text).add_subparsers(dest="what", required=True, metavar="user")
        p = what.add_parser("user", parents=common, help=text)
        p.add_argument("group", metavar="GROUP")
        p.add_argument("users", nargs="+", metavar="USER")
        p.set_defaults(func=_membership(add))
