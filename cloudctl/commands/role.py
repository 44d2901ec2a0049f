"""`cloudctl role ...`: create, list, delete; add/remove assignments; `role assignment list`.

An assignment gives a user or a group a role on a project or a domain;
``--inherited`` gives it on every project below the target instead
(Keystone's OS-INHERIT).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from cloudctl.client import Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import fields, for_each, identity
from cloudctl.identity_client import Identity
from cloudctl.output import Column, Listing, Record, Result

ORDER = ("id", "name", "domain_id", "description")
COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("description", "Description")]
PARTS = ("role", "user", "group", "project", "domain")
ASSIGNMENT_KEYS = [f"{part}_{attr}" for part in PARTS for attr in ("id", "name")] + ["inherited"]


def _named(part: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda r: str(r.get(f"{part}_name") or r.get(f"{part}_id") or "")


def assignment_columns(names: bool) -> list[Column]:
    """Columns of `role assignment list`: names (falling back to ids) with --names, else ids."""
    headers = {"role": "Role", "user": "User", "group": "Group", "project": "Project", "domain": "Domain"}
    cols = [Column(f"{p}_name" if names else f"{p}_id", h, _named(p) if names else None)
            for p, h in headers.items()]
    return [*cols, Column("inherited", "Inherited")]


def assignment_row(assignment: Resource) -> dict[str, Any]:
    """Flatten one Keystone role assignment ({role, user|group, scope}) into a row."""
    scope = assignment.get("scope") or {}
    sources = {"role": assignment.get("role"), "user": assignment.get("user"),
               "group": assignment.get("group"), "project": scope.get("project"),
               "domain": scope.get("domain")}
    row: dict[str, Any] = {}
    for part, source in sources.items():
        source = source or {}
        row[f"{part}_id"] = source.get("id")
        row[f"{part}_name"] = source.get("name")
    row["inherited"] = scope.get("OS-INHERIT:inherited_to") == "projects"
    return row


def _ids(api: Identity, args: argparse.Namespace) -> dict[str, str | None]:
    """Resolve the --user/--group/--project/--domain names of an assignment command to ids."""
    return {"user_id": api.users.find(args.user)["id"] if args.user else None,
            "group_id": api.groups.find(args.group)["id"] if args.group else None,
            "project_id": api.projects.find(args.project)["id"] if args.project else None,
            "domain_id": api.domains.find(args.domain)["id"] if args.domain else None}


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    role = identity(ctx).roles.create(name=args.name, description=args.description)
    return Record(fields(role, ORDER))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    rows = sorted((fields(r, ORDER) for r in identity(ctx).roles.list()), key=lambda r: str(r["name"]))
    return Listing(COLUMNS, rows, machine_keys=list(ORDER))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    for_each(ctx, args.roles, lambda ref: api.roles.delete(api.roles.find(ref)["id"]))
    return None


def _grant(add: bool) -> Callable[[Context, argparse.Namespace], Result]:
    def run(ctx: Context, args: argparse.Namespace) -> Result:
        api = identity(ctx)
        where = {k: v for k, v in _ids(api, args).items() if v is not None}
        change = api.roles.grant if add else api.roles.revoke
        for_each(ctx, args.roles, lambda ref: change(api.roles.find(ref)["id"], inherited=args.inherited,
                                                     **where))
        return None

    return run


def do_assignments(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    role_id = api.roles.find(args.role)["id"] if args.role else None
    found = api.roles.assignments(**_ids(api, args), role_id=role_id, effective=args.effective,
                                  names=args.names)
    return Listing(assignment_columns(args.names), [assignment_row(a) for a in found],
                   machine_keys=ASSIGNMENT_KEYS)


def _who_where(parser: argparse.ArgumentParser, required: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--project", metavar="ID|NAME", help="on this project")
    target.add_argument("--domain", metavar="ID|NAME", help="on this domain")
    actor = parser.add_mutually_exclusive_group(required=required)
    actor.add_argument("--user", metavar="ID|NAME", help="of this user")
    actor.add_argument("--group", metavar="ID|NAME", help="of this group")


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``role`` and its verbs, with ``role assignment list``."""
    noun = sub.add_parser("role", help="roles and role assignments").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("create", parents=common, help="create a role (admin)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list roles")
    p.set_defaults(func=do_list)

    p = noun.add_parser("delete", parents=common, help="delete roles (and their assignments)")
    p.add_argument("roles", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)

    for verb, add, text in (("add", True, "give a user or group roles on a project or domain"),
                            ("remove", False, "take roles away from a user or group")):
        p = noun.add_parser(verb, parents=common, help=text)
        p.add_argument("roles", nargs="+", metavar="ROLE")
        _who_where(p, required=True)
        p.add_argument("--inherited", action="store_true",
                       help="on every project below the project or domain (not on it)")
        p.set_defaults(func=_grant(add))

    assignment = noun.add_parser("assignment", help="role assignments").add_subparsers(
        dest="assignment_verb", required=True, metavar="VERB")
    p = assignment.add_parser("list", parents=common, help="list role assignments")
    _who_where(p, required=False)
    p.add_argument("--role", metavar="ID|NAME", help="only this role")
    p.add_argument("--effective", action="store_true",
                   help="what each user really holds: groups expanded, inherited roles applied")
    p.add_argument("--names", action="store_true", help="show names instead of ids")
    p.set_defaults(func=do_assignments)
