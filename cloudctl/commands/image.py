"""`cloudctl image ...`: create (optionally with data), upload, list, quotas, pre-staging."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands import image_prestage
from cloudctl.commands.common import Context, SubParsers, key_value, positive_int
from cloudctl.output import Column, Listing, Record, Result

# Fields of the Image v2 schema; everything else on an image is a user property.
_CORE = {"id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value",
         "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format", "container_format",
         "created_at", "updated_at", "tags", "self", "file", "schema", "direct_url", "locations",
         "os_hidden", "stores"}

COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("status", "Status"),
           Column("size", "Size"), Column("disk_format", "Disk Format"), Column("visibility", "Visibility")]


def summary(image: Resource) -> dict[str, Any]:
    """Return an image's fields as shown, with user properties gathered under ``properties``."""
    out = {k: image.get(k) for k in ("id", "name", "status", "size", "disk_format", "container_format",
                                     "visibility", "checksum", "min_disk", "min_ram", "owner",
                                     "created_at", "updated_at")}
    out["properties"] = {k: v for k, v in image.items() if k not in _CORE}
    return out


def _readable(path: str) -> str:
    """Check the file before anything is created, so a typo leaves no empty image behind."""
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read file {path!r}")
    return path


def do_create(ctx: Context, args: argparse.Namespace) -> Result:
    images = ctx.client.images
    image = images.create(args.name, disk_format=args.disk_format, container_format=args.container_format,
                          visibility="public" if args.public else None, properties=dict(args.property or []))
    if args.file:
        images.upload(image["id"], args.file)
        image = images.get(image["id"])
    return Record(summary(image))


def do_upload(ctx: Context, args: argparse.Namespace) -> Result:
    images = ctx.client.images
    image_id = images.find(args.image)["id"]
    images.upload(image_id, args.file)
    return Record(summary(images.get(image_id)))


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    filters = {"name": args.name, "status": args.status}
    return Listing(COLUMNS, [summary(i) for i in ctx.client.images.iter(
        limit=args.limit, **{k: v for k, v in filters.items() if v})])


def _quota_record(usage: dict[str, Any]) -> Record:
    """One row per limit: its value (-1 unlimited) and what is in use."""
    names = {"image_count_total": "images", "image_size_total": "bytes",
             "image_snapshot_size_total": "snapshot_bytes"}
    return Record({names.get(k, k): f"{v.get('usage')} / {v.get('limit')}" for k, v in usage.items()})


def do_quota_show(ctx: Context, args: argparse.Namespace) -> Result:
    session = ctx.client.images.session
    params = {"project_id": args.project} if args.project else None
    return _quota_record(session.request("image", "GET", "/info/usage", params=params).json()["usage"])


def do_quota_set(ctx: Context, args: argparse.Namespace) -> Result:
    limits = {"images": args.images, "image_bytes": args.bytes, "snapshot_bytes": args.snapshot_bytes}
    body = {"quota": {k: v for k, v in limits.items() if v is not None}}
    if not body["quota"]:
        raise CloudError("give --images, --bytes or --snapshot-bytes")
    answer = ctx.client.images.session.request("image", "PUT", f"/quotas/{args.project}", json=body).json()
    return _quota_record(answer["usage"])


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from exc
    if number < -1:
        raise argparse.ArgumentTypeError("must be >= -1 (-1: unlimited)")
    return number


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``image`` and its verbs to the top-level subparsers."""
    noun = sub.add_parser("image", help="disk images").add_subparsers(dest="verb", required=True,
                                                                       metavar="VERB")
    p = noun.add_parser("create", parents=common, help="register an image, optionally uploading its data")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--file", type=_readable, help="upload this file as the image's data")
    p.add_argument("--disk-format", default="qcow2", help="qcow2, raw, ... (default: qcow2)")
    p.add_argument("--container-format", default="bare", help="default: bare")
    p.add_argument("--public", action="store_true", help="visible to every project (admin)")
    p.add_argument("--property", type=key_value, action="append", metavar="KEY=VALUE",
                   help="image property (repeatable)")
    p.set_defaults(func=do_create)

    p = noun.add_parser("upload", parents=common, help="upload the data of a queued image")
    p.add_argument("image", metavar="ID|NAME")
    p.add_argument("file", metavar="FILE", type=_readable)
    p.set_defaults(func=do_upload)

    p = noun.add_parser("list", parents=common, help="list images")
    p.add_argument("--name", help="only images with this name")
    p.add_argument("--status", help="only images in this status (e.g. active)")
    p.add_argument("--limit", type=positive_int, help="at most this many images")
    p.set_defaults(func=do_list)

    image_prestage.register(noun, common)

    quota = noun.add_parser("quota", help="image quotas of a project").add_subparsers(
        dest="quota_verb", required=True, metavar="VERB")
    p = quota.add_parser("show", parents=common, help="limits and usage (another project's: admin)")
    p.add_argument("--project", help="project ID (default: the token's project)")
    p.set_defaults(func=do_quota_show)
    p = quota.add_parser("set", parents=common, help="set a project's limits (admin; -1 unlimited)")
    p.add_argument("--project", required=True, help="project ID")
    p.add_argument("--images", type=_limit, help="number of images")
    p.add_argument("--bytes", type=_limit, help="total bytes of images (snapshots excluded)")
    p.add_argument("--snapshot-bytes", type=_limit, help="total bytes of snapshots")
    p.set_defaults(func=do_quota_set)
