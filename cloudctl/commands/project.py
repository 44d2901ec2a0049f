"""`cloudctl project ...`: create, list (flat or as a tree), show (with parents/subtree), set, delete.

Projects nest through ``parent_id``; the tree view rebuilds the hierarchy
from one list and draws children under their parents::

    admin
    research
    ├─ physics
    │  └─ detectors
    └─ biology
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.commands.identity_common import DetailRecord, enabled_flags, fields, for_each, identity
from cloudctl.output import Column, Listing, Record, Result

ORDER = ("id", "name", "domain_id", "parent_id", "enabled", "description", "is_domain")
COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("domain_id", "Domain"),
           Column("parent_id", "Parent"), Column("enabled", "Enabled"), Column("description", "Description")]
TREE_COLUMNS = [Column("name", "Name", lambda r: f"{r['prefix']}{r.get('name') or ''}"), Column("id", "ID"),
                Column("enabled", "Enabled"), Column("description", "Description")]
TREE_KEYS = ["id", "name", "parent_id", "domain_id", "depth", "enabled", "description"]


def summary(project: Resource) -> dict[str, Any]:
    return {k: project.get(k) for k in ORDER[:-1]}


def build_tree(projects: Iterable[Resource], root_id: str | None = None) -> list[dict[str, Any]]:
    """Return projects in tree order (siblings by name) with ``depth`` and the ``prefix`` drawn before names.

    A project whose parent is not listed is a root; with ``root_id`` only that
    project and its descendants are returned.
    """
    by_id = {str(p["id"]): dict(p) for p in projects}
    children: dict[str | None, list[str]] = {}
    for pid, project in by_id.items():
        parent = project.get("parent_id")
        children.setdefault(parent if parent in by_id and parent != pid else None, []).append(pid)
    for kids in children.values():
        kids.sort(key=lambda k: (str(by_id[k].get("name") or ""), k))
    rows: list[dict[str, Any]] = []

    def walk(pid: str, depth: int, prefix: str, lead: str) -> None:
        if any(r["id"] == pid for r in rows):  # a cycle in bad data must not recurse forever
            return
        rows.append({**by_id[pid], "depth": depth, "prefix": prefix})
        kids = children.get(pid, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, depth + 1, lead + ("└─ " if last else "├─ "), lead + ("   " if last else "│  "))

    for root in ([root_id] if root_id is not None else children.get(None, [])):
        walk(root, 0, "", "")
    return rows


def _family(entries: Any) -> list[Resource]:
    """Keystone nests ``parents``/``subtree`` entries as {"project": {...}}; accept flat ones too."""
    out = []
    for entry in entries or []:
        if isinstance(entry, Mapping):
            inner = entry.get("project")
            out.append(dict(inner) if isinstance(inner, Mapping) else dict(entry))
    return out


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    parent = api.projects.find(args.parent)["id"] if args.parent else None
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    project = api.projects.create(name=args.name, parent_id=parent, domain_id=domain,
                                  description=args.description, enabled=not args.disable)
    return Record(fields(project, ORDER))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    domain = api.domains.find(args.domain)["id"] if args.domain else None
    parent = api.projects.find(args.parent)["id"] if args.parent else None
    if args.tree:
        return Listing(TREE_COLUMNS, build_tree(api.projects.list(domain_id=domain), parent),
                       machine_keys=TREE_KEYS)
    projects = api.projects.list(domain_id=domain, parent_id=parent)
    return Listing(COLUMNS, sorted((summary(p) for p in projects), key=lambda p: str(p["name"])))


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    project_id = api.projects.find(args.project)["id"]
    project = api.projects.with_family(project_id, parents=args.parents, subtree=args.children)
    shown = fields({k: v for k, v in project.items() if k not in ("parents", "subtree")}, ORDER)
    machine: dict[str, Any] = {}
    if args.parents:
        # Keystone lists parents from the immediate parent up; a path reads root first.
        chain = list(reversed(_family(project.get("parents"))))
        shown["parents"] = " / ".join(str(p.get("name") or p.get("id")) for p in chain)
        machine["parents"] = [{"id": p.get("id"), "name": p.get("name")} for p in chain]
    if args.children:
        tree = build_tree([*_family(project.get("subtree")), {**project, "parent_id": None}], project_id)[1:]
        # One table cell cannot hold the drawn tree: each descendant is shown by its path below the project.
        paths: dict[str, str] = {}
        for row in tree:
            above = paths.get(str(row.get("parent_id")))
            paths[str(row["id"])] = f"{above}/{row.get('name')}" if above else str(row.get("name"))
        shown["subtree"] = ", ".join(paths.values())
        machine["subtree"] = [{"id": r.get("id"), "name": r.get("name"), "parent_id": r.get("parent_id"),
                               "depth": r["depth"]} for r in tree]
    return DetailRecord(shown, machine)


def do_set(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    changes = {"name": args.name, "description": args.description, "enabled": args.enabled}
    if all(v is None for v in changes.values()):
        raise CloudError("nothing to change: pass --name, --description, --enable or --disable")
    project = api.projects.update(api.projects.find(args.project)["id"], **changes)
    return Record(fields(project, ORDER))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    api = identity(ctx)
    for_each(ctx, args.projects, lambda ref: api.projects.delete(api.projects.find(ref)["id"]))
    return None


def _set_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="new name")
    parser.add_argument("--description", help="new description")
    enabled_flags(parser, "project")


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``project`` and its verbs."""
    noun = sub.add_parser("project", help="projects (tenants), nested").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("create", parents=common, help="create a project")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--parent", metavar="ID|NAME", help="nest it below this project")
    p.add_argument("--domain", metavar="ID|NAME", help="its domain (default: the parent's, or yours)")
    p.add_argument("--description")
    p.add_argument("--disable", action="store_true", help="create it disabled")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list projects")
    p.add_argument("--parent", metavar="ID|NAME", help="only its children (with --tree: its subtree)")
    p.add_argument("--domain", metavar="ID|NAME", help="only projects of this domain")
    p.add_argument("--tree", action="store_true", help="show children indented under their parents")
    p.set_defaults(func=do_list)

    p = noun.add_parser("show", parents=common, help="show a project")
    p.add_argument("project", metavar="ID|NAME")
    p.add_argument("--children", action="store_true", help="include its subtree")
    p.add_argument("--parents", action="store_true", help="include its parents")
    p.set_defaults(func=do_show)

    p = noun.add_parser("set", parents=common, help="change a project")
    p.add_argument("project", metavar="ID|NAME")
    _set_parser(p)
    p.set_defaults(func=do_set)

    p = noun.add_parser("delete", parents=common, help="delete projects")
    p.add_argument("projects", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)
