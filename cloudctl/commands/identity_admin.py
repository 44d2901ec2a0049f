"""`cloudctl admin identity rotate-keys|jwks`: signing-key rotation on an identity host, and JWKS status.

``rotate-keys`` runs on the identity host itself: the CLI imports none of
our daemons, so it runs the ``cloud-identity rotate-keys`` console script
of the same installation and shows its answer. ``jwks`` reads the public
keys each identity endpoint publishes (GET /v3/OS-JWKS, unauthenticated);
the server lists its primary key first, so a key's state is its position
unless the entry says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import requests
import yaml

from cloudctl.client import CloudError
from cloudctl.commands.common import Context, SubParsers, positive_int
from cloudctl.identity_client import fetch_jwks, jwks_url
from cloudctl.output import Column, Listing, Result

DAEMON = "cloud-identity"
STATE_ORDER = {"primary": 0, "staged": 1, "secondary": 2}
KEY_COLUMNS = [Column("kid", "Kid"), Column("state", "State")]
JWKS_COLUMNS = [Column("endpoint", "Endpoint"), Column("position", "#"), Column("kid", "Kid"),
                Column("state", "State"), Column("alg", "Algorithm"), Column("published", "Keys")]
JWKS_KEYS = ["endpoint", "url", "position", "kid", "state", "alg", "kty", "crv", "published"]


def handles(command: str, rest: Sequence[str]) -> bool:
    """True for ``admin identity ...``, which this module serves rather than the launcher."""
    return command == "admin" and list(rest[:1]) == ["identity"]


def _readable(path: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read file {path!r}")
    return path


def _identity_command() -> list[str]:
    """The cloud-identity console script: on PATH, else beside this interpreter (an unactivated venv)."""
    found = shutil.which(DAEMON) or shutil.which(DAEMON, path=os.path.dirname(sys.executable))
    if not found:
        raise CloudError(f"{DAEMON} is not installed here: run rotate-keys on an identity host")
    return [found]


def key_rows(result: Any) -> list[dict[str, str]]:
    """Rows (kid, state) of the rotate-keys answer {"primary": kid, "keys": {kid: state}}, primary first."""
    keys = result.get("keys") if isinstance(result, dict) else None
    if not isinstance(keys, dict):
        raise CloudError(f"{DAEMON} rotate-keys answered something else than its key states")
    rows = [{"kid": str(kid), "state": str(state)} for kid, state in keys.items()]
    return sorted(rows, key=lambda r: (STATE_ORDER.get(r["state"], len(STATE_ORDER)), r["kid"]))


def do_rotate(ctx: Context, args: argparse.Namespace) -> Result:
    command = [*_identity_command(), "--config", args.config, "rotate-keys"]
    if args.max_keys is not None:
        command += ["--max-keys", str(args.max_keys)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CloudError(f"{DAEMON} rotate-keys failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise CloudError(lines[-1] if lines else f"{DAEMON} rotate-keys exited with {done.returncode}")
    try:
        result = json.loads(done.stdout)
    except ValueError:
        raise CloudError(f"{DAEMON} rotate-keys did not answer JSON") from None
    return Listing(KEY_COLUMNS, key_rows(result))


def cell_endpoints(path: str) -> list[tuple[str, str]]:
    """(label, JWKS URL) of a cell's own identity and of the cells it trusts, read from its YAML file."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise CloudError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise CloudError(f"{path}: not a cell configuration")
    cell = doc.get("cell") or {}
    parent = (cell.get("parent") or {}).get("path")
    label = f"{parent}!{cell.get('name')}" if parent else str(cell.get("name") or path)
    found = []
    public_url = (doc.get("identity") or {}).get("public_url")
    if public_url:
        found.append((label, jwks_url(str(public_url))))
    for issuer in (doc.get("auth") or {}).get("trusted_issuers") or []:
        if isinstance(issuer, dict) and issuer.get("jwks_url"):
            found.append((str(issuer.get("issuer") or issuer["jwks_url"]), str(issuer["jwks_url"])))
    if not found:
        raise CloudError(f"{path}: the cell has no identity endpoint (identity.public_url)")
    return found


def _endpoints(ctx: Context, args: argparse.Namespace) -> tuple[list[tuple[str, str]], requests.Session]:
    """The endpoints to ask: --cell and --url, else the cloud's own identity endpoint."""
    found: list[tuple[str, str]] = []
    for path in args.cell or []:
        found += cell_endpoints(path)
    found += [(url, jwks_url(url)) for url in args.url or []]
    if found:
        return found, requests.Session()
    session = ctx.client.session
    return [(session.cloud.name, jwks_url(session.endpoint("identity")))], session.http


def jwks_rows(label: str, url: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per published key; without a ``state`` in the entry, the first is the primary."""
    return [{"endpoint": label, "url": url, "position": i, "kid": key.get("kid"),
             "state": key.get("state") or ("primary" if i == 1 else "verify-only"),
             "alg": key.get("alg"), "kty": key.get("kty"), "crv": key.get("crv"), "published": len(keys)}
            for i, key in enumerate(keys, start=1)]


def do_jwks(ctx: Context, args: argparse.Namespace) -> Result:
    endpoints, http = _endpoints(ctx, args)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for label, url in endpoints:
        if url in seen:
            continue
        seen.add(url)
        # One unreachable cell must not hide the others: report it, exit 1, show the rest.
        try:
            keys = fetch_jwks(http, url)
        except CloudError as exc:
            ctx.fail(f"{label}: {exc}")
            continue
        if not keys:
            ctx.fail(f"{label}: {url} publishes no keys")
        rows += jwks_rows(label, url, keys)
    return Listing(JWKS_COLUMNS, rows, machine_keys=JWKS_KEYS)


def register(admin: argparse.ArgumentParser, common: list[argparse.ArgumentParser]) -> SubParsers:
    """Add ``identity rotate-keys`` and ``identity jwks`` below the ``admin`` parser; returns its tasks."""
    nouns = admin.add_subparsers(dest="admin_noun", required=True, metavar="TASK")
    noun = nouns.add_parser("identity", help="identity signing keys").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    p = noun.add_parser("rotate-keys", parents=common,
                        help="promote the staged signing key and stage a new one (on the identity host)")
    p.add_argument("--config", required=True, type=_readable, metavar="CELL.yaml",
                   help="the cell's configuration (names identity.key_repository)")
    p.add_argument("--max-keys", type=positive_int, metavar="N",
                   help="keys kept: primary, staged and secondaries (at least 3)")
    p.set_defaults(func=do_rotate)

    p = noun.add_parser("jwks", parents=common, help="the public keys each identity endpoint publishes")
    p.add_argument("--cell", action="append", metavar="CELL.yaml", type=_readable,
                   help="a cell's configuration: its identity and the cells it trusts (repeatable)")
    p.add_argument("--url", action="append", metavar="URL",
                   help="an identity endpoint, /v3 or JWKS URL (repeatable)")
    p.set_defaults(func=do_jwks)
    return nouns
