"""`cloudctl server ...`: create, list, show, delete, start, stop, reboot, image create."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from cloudctl.client import CloudError, NotFound, Resource, WaitTimeout
from cloudctl.commands import image as image_views
from cloudctl.commands.common import (
    Context,
    ProgressLine,
    SubParsers,
    add_wait_options,
    key_value,
    positive_int,
    wait_server,
)
from cloudctl.output import Column, Listing, Record, Result

LIST_COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("status", "Status"),
                Column("task_state", "Task State"), Column("flavor", "Flavor"), Column("image", "Image"),
                Column("host", "Host"), Column("created", "Created")]


def _ref(value: Any) -> str | None:
    """A flavor or image reference as shown: its name when embedded, else its id."""
    if isinstance(value, Mapping):
        return value.get("original_name") or value.get("name") or value.get("id")
    return value or None


def summary(server: Resource) -> dict[str, Any]:
    """Return the fields of a server as the CLI shows them (list and show)."""
    return {
        "id": server.get("id"),
        "name": server.get("name"),
        "status": server.get("status"),
        "task_state": server.get("OS-EXT-STS:task_state"),
        "vm_state": server.get("OS-EXT-STS:vm_state"),
        "power_state": server.get("OS-EXT-STS:power_state"),
        "flavor": _ref(server.get("flavor")),
        "image": _ref(server.get("image")),
        "host": server.get("OS-EXT-SRV-ATTR:host"),
        "project_id": server.get("tenant_id") or server.get("project_id"),
        "user_id": server.get("user_id"),
        "metadata": server.get("metadata") or {},
        "fault": (server.get("fault") or {}).get("message"),
        "created": server.get("created"),
        "updated": server.get("updated"),
        "launched_at": server.get("OS-SRV-USG:launched_at"),
    }


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    client = ctx.client
    flavor = client.flavors.find(args.flavor)
    image = client.images.find(args.image)
    created = client.servers.create(args.name, flavor["id"], image["id"], dict(args.property or []))
    server: Resource | None = None
    if args.wait:
        server = wait_server(ctx, created["id"], args.name, {"ACTIVE"}, args.timeout)
    return Record(summary(server or client.servers.get(created["id"])))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    servers = ctx.client.servers.iter(all_projects=args.all_projects, status=args.status,
                                      name=args.name, limit=args.limit)
    return Listing(LIST_COLUMNS, [summary(s) for s in servers])


def do_show(ctx: Context, args: argparse.Namespace) -> Result:
    return Record(summary(ctx.client.servers.find(args.server, all_projects=args.all_projects)))


def do_delete(ctx: Context, args: argparse.Namespace) -> Result:
    deleted: list[tuple[str, str]] = []
    for ref in args.servers:
        # One bad name must not stop the others; each failure is reported and makes the exit 1.
        try:
            server = ctx.client.servers.find(ref, all_projects=args.all_projects)
            ctx.client.servers.delete(server["id"])
            deleted.append((server["id"], ref))
        except CloudError as exc:
            ctx.fail(f"{ref}: {exc}")
    if args.wait:
        for server_id, ref in deleted:
            wait_server(ctx, server_id, ref, {"DELETED"}, args.timeout)
    return None


def _action(name: str, target: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> Result:
        server = ctx.client.servers.find(args.server, all_projects=args.all_projects)
        if name == "reboot":
            ctx.client.servers.reboot(server["id"], hard=args.hard)
        else:
            getattr(ctx.client.servers, name)(server["id"])
        if args.wait:
            wait_server(ctx, server["id"], args.server, {target}, args.timeout)
        return None

    return run


def do_image_create(ctx: Context, args: argparse.Namespace) -> Result:
    client = ctx.client
    server = client.servers.find(args.server, all_projects=args.all_projects)
    name = args.name or server["name"]
    image_id = client.servers.create_image(server["id"], name, dict(args.property or []))
    if not args.wait:
        return Record(image_views.summary(client.images.get(image_id)))
    progress = ProgressLine(name, ctx.stderr)
    try:
        image = client.images.wait_for(image_id, timeout=args.timeout, progress=progress)
    except WaitTimeout as exc:
        progress.close()
        ctx.fail(exc.message)
        return None
    except NotFound:
        # A snapshot that fails deletes its image; the server's fault says why.
        progress.close()
        fault = (client.servers.get(server["id"]).get("fault") or {}).get("message")
        ctx.fail(f"snapshot {name} of server {args.server} failed" + (f": {fault}" if fault else ""))
        return None
    progress.close()
    if image.get("status") != "active":
        ctx.fail(f"snapshot {name} of server {args.server} is {image.get('status')}")
    return Record(image_views.summary(image))


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``server`` and its verbs to the top-level subparsers."""
    noun = sub.add_parser("server", help="virtual machines").add_subparsers(dest="verb", required=True,
                                                                             metavar="VERB")

    p = noun.add_parser("create", parents=common, help="boot a server")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--flavor", required=True, help="flavor name or ID")
    p.add_argument("--image", required=True, help="image name or ID")
    p.add_argument("--property", type=key_value, action="append", metavar="KEY=VALUE",
                   help="metadata to set (repeatable)")
    add_wait_options(p, "the server is ACTIVE")
    p.set_defaults(func=do_create)

    p = noun.add_parser("list", parents=common, help="list servers")
    p.add_argument("--all-projects", action="store_true", help="servers of every project (admin)")
    p.add_argument("--status", type=str.upper, help="only servers in this status (e.g. ACTIVE)")
    p.add_argument("--name", help="only servers whose name matches")
    p.add_argument("--limit", type=positive_int, help="at most this many servers")
    p.set_defaults(func=do_list)

    p = noun.add_parser("show", parents=common, help="show one server")
    p.add_argument("server", metavar="ID|NAME")
    p.add_argument("--all-projects", action="store_true", help="look names up in every project (admin)")
    p.set_defaults(func=do_show)

    p = noun.add_parser("delete", parents=common, help="delete servers")
    p.add_argument("servers", nargs="+", metavar="ID|NAME")
    p.add_argument("--all-projects", action="store_true", help="look names up in every project (admin)")
    add_wait_options(p, "the servers are gone")
    p.set_defaults(func=do_delete)

    for verb, target, text in (("start", "ACTIVE", "start a stopped server"),
                               ("stop", "SHUTOFF", "stop a server"),
                               ("reboot", "ACTIVE", "reboot a server")):
        p = noun.add_parser(verb, parents=common, help=text)
        p.add_argument("server", metavar="ID|NAME")
        p.add_argument("--all-projects", action="store_true", help="look names up in every project (admin)")
        if verb == "reboot":
            p.add_argument("--hard", action="store_true", help="power-cycle instead of a guest reboot")
        add_wait_options(p, f"the server is {target}")
        p.set_defaults(func=_action(verb, target))

    image_verbs = noun.add_parser("image", help="images of a server").add_subparsers(
        dest="image_verb", required=True, metavar="VERB")
    p = image_verbs.add_parser("create", parents=common, help="snapshot a server into a new image")
    p.add_argument("server", metavar="ID|NAME")
    p.add_argument("--name", help="the image's name (default: the server's)")
    p.add_argument("--property", type=key_value, action="append", metavar="KEY=VALUE",
                   help="a property of the image (repeatable)")
    p.add_argument("--all-projects", action="store_true", help="look names up in every project (admin)")
    add_wait_options(p, "the image is active")
    p.set_defaults(func=do_image_create)
