"""`cloudctl flavor ...`: list, create, delete."""

from __future__ import annotations

import argparse
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context, SubParsers, non_negative_int, positive_int
from cloudctl.output import Column, Listing, Record, Result, human_gb, human_mb

COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("vcpus", "vCPUs"),
           Column("ram", "RAM", lambda r: human_mb(r.get("ram"))),
           Column("disk", "Disk", lambda r: human_gb(r.get("disk"))),
           Column("ephemeral", "Ephemeral", lambda r: human_gb(r.get("ephemeral"))),
           Column("is_public", "Public")]


def summary(flavor: Resource) -> dict[str, Any]:
    """Return a flavor's fields as shown (RAM in MiB, disks in GiB)."""
    return {"id": flavor.get("id"), "name": flavor.get("name"), "vcpus": flavor.get("vcpus"),
            "ram": flavor.get("ram"), "disk": flavor.get("disk"),
            "ephemeral": flavor.get("OS-FLV-EXT-DATA:ephemeral", 0),
            "swap": flavor.get("swap") or 0,
            "is_public": flavor.get("os-flavor-access:is_public", True)}


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    return Listing(COLUMNS, [summary(f) for f in ctx.client.flavors.list()])


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    flavor = ctx.client.flavors.create(args.name, vcpus=args.vcpus, ram=args.ram, disk=args.disk,
                                       flavor_id=args.id, ephemeral=args.ephemeral, swap=args.swap,
                                       is_public=not args.private)
    return Record(summary(flavor))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    for ref in args.flavors:
        try:
            ctx.client.flavors.delete(ctx.client.flavors.find(ref)["id"])
        except CloudError as exc:
            ctx.fail(f"{ref}: {exc}")
    return None


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``flavor`` and its verbs to the top-level subparsers."""
    noun = sub.add_parser("flavor", help="server sizes").add_subparsers(dest="verb", required=True,
                                                                         metavar="VERB")
    p = noun.add_parser("list", parents=common, help="list flavors")
    p.set_defaults(func=do_list)

    p = noun.add_parser("create", parents=common, help="create a flavor (admin)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--vcpus", type=positive_int, required=True, help="virtual CPUs")
    p.add_argument("--ram", type=positive_int, required=True, help="memory in MiB")
    p.add_argument("--disk", type=non_negative_int, required=True, help="root disk in GiB")
    p.add_argument("--ephemeral", type=non_negative_int, default=0, help="ephemeral disk in GiB")
    p.add_argument("--swap", type=non_negative_int, default=0, help="swap in MiB")
    p.add_argument("--id", help="flavor ID (default: a generated UUID)")
    p.add_argument("--private", action="store_true", help="not visible to every project")
    p.set_defaults(func=do_create)

    p = noun.add_parser("delete", parents=common, help="delete flavors (admin)")
    p.add_argument("flavors", nargs="+", metavar="ID|NAME")
    p.set_defaults(func=do_delete)
