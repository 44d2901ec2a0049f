"""cloud-identity: serve the identity API; ``bootstrap`` and ``rotate-keys`` for operators."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cells import service
from cells.config import CellConfig
from cells.db import migrate
from cells.db.engine import Database
from cells.exception import ConfigError
from identity.app import create_app
from identity.bootstrap import bootstrap
from identity.keys import KeyRepository

DAEMON = "cloud-identity"


def build(conf: CellConfig, args: argparse.Namespace) -> list[service.Component]:
    """Return the daemon's components: the identity WSGI server. Raises ConfigError if unconfigured."""
    if conf.identity is None:
        raise ConfigError("identity.listen and identity.public_url are required to run cloud-identity")
    return [service.WsgiServer(DAEMON, create_app(conf), conf.identity)]


def _parser() -> argparse.ArgumentParser:
    parser = service.base_parser(DAEMON, "The identity service (Keystone v3 tokens) of one cell.")
    commands = parser.add_subparsers(dest="command")
    boot = commands.add_parser("bootstrap", help="migrate the database and create the initial identity data")
    boot.add_argument("--admin-password-file", help="file holding the admin password (API cell)")
    boot.add_argument("--demo-password-file", help="file holding the demo user's password")
    boot.add_argument("--service-account", action="append", default=[], metavar="NAME=PASSWORD_FILE",
                      help="a cell service account and the file holding its password (repeatable)")
    rotate = commands.add_parser("rotate-keys", help="promote the staged signing key and stage a new one")
    rotate.add_argument("--max-keys", type=int, default=None,
                        help="keys kept: primary, staged, secondaries (default identity.max_key_count)")
    commands.add_parser("keys", help="list the signing keys and their states (primary, staged, secondary)")
    return parser


def _read_secret(path: str, what: str) -> str:
    try:
        secret = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path} ({exc.strerror})") from exc
    if not secret:
        raise ConfigError(f"{what}: {path} is empty")
    return secret


def _service_accounts(specs: list[str]) -> dict[str, str]:
    accounts = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--service-account {spec!r}: expected NAME=PASSWORD_FILE")
        accounts[name] = _read_secret(path, f"service account {name}")
    return accounts


def run_bootstrap(conf: CellConfig, args: argparse.Namespace) -> dict[str, object]:
    """Apply the migrations, then bootstrap; returns what bootstrap returned."""
    admin = ""
    if not conf.service_accounts_only:
        if not args.admin_password_file:
            raise ConfigError("--admin-password-file is required to bootstrap the API cell's identity")
        admin = _read_secret(args.admin_password_file, "admin password")
    demo = _read_secret(args.demo_password_file, "demo password") if args.demo_password_file else None
    accounts = _service_accounts(args.service_account)
    migrate.upgrade(conf.database_url, conf.type)
    db = Database(conf.database_url)
    try:
        return bootstrap(conf, db, admin, demo, accounts)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    """Entry point of cloud-identity; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return service.run_daemon(DAEMON, build, argv, parser)
    conf = service.load_config(DAEMON, args.config)
    service.setup_logging(conf, DAEMON)
    try:
        if args.command == "bootstrap":
            result: object = run_bootstrap(conf, args)
        else:
            if not conf.key_repository:
                raise ConfigError("identity.key_repository is required")
            repository = KeyRepository(conf.key_repository)
            if args.command == "rotate-keys":
                primary = repository.rotate(args.max_keys or conf.max_key_count)
            else:
                primary = repository.ensure()
            result = {"primary": primary, "keys": repository.states()}
    except (ConfigError, ValueError) as exc:
        print(f"{DAEMON}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
