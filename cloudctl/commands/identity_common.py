"""What the identity commands share: the client, field ordering, secrets from files or prompts."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudctl.client import CloudError, Resource
from cloudctl.commands.common import Context
from cloudctl.identity_client import Identity
from cloudctl.output import Record

# Wire-format keys shown by no command: links are for machines following them.
_HIDDEN = {"links"}


def identity(ctx: Context) -> Identity:
    """The identity client over the context's session (built, not logged in, on first use)."""
    return Identity(ctx.client.session)


def fields(resource: Resource, order: Sequence[str]) -> dict[str, Any]:
    """Return ``order``'s keys first (missing ones as None), then every other key the server sent.

    Empty containers among the others (Keystone's ``options: {}``, ``tags: []``) are left out.
    """
    out = {key: resource.get(key) for key in order}
    out.update({k: v for k, v in resource.items()
                if k not in out and k not in _HIDDEN and v not in ({}, [])})
    return out


@dataclass
class DetailRecord(Record):
    """A record whose table shows readable text while JSON/YAML carry the structured values."""

    machine_fields: Mapping[str, Any] = field(default_factory=dict)

    def machine(self) -> dict[str, Any]:
        return {**self.fields, **self.machine_fields}


def read_secret_file(path: str, what: str) -> str:
    """Return the first line of a file holding a secret; raises CloudError if unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as fh:
            secret = fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise CloudError(f"{what}: cannot read {path} ({exc.strerror})") from exc
    if not secret:
        raise CloudError(f"{what}: {path} is empty")
    return secret


def prompt_secret(prompt: str, confirm: bool = True) -> str:
    """Ask for a secret on the terminal (twice when ``confirm``); raises CloudError if empty or unequal."""
    first = getpass.getpass(f"{prompt}: ")
    if not first:
        raise CloudError("no password given")
    if confirm and getpass.getpass(f"Repeat {prompt}: ") != first:
        raise CloudError("the passwords do not match")
    return first


def enabled_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """Add --enable/--disable (default: leave unchanged)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_const", const=True,
                       help=f"enable the {what}")
    group.add_argument("--disable", dest="enabled", action="store_const", const=False,
                       help=f"disable the {what}")


def for_each(ctx: Context, refs: Sequence[str], action: Callable[[str], object]) -> None:
    """Run ``action(ref)`` for every ref; one failure is reported and makes the exit 1, the rest go on."""
    for ref in refs:
        try:
            action(ref)
        except CloudError as exc:
            ctx.fail(f"{ref}: {exc}")
