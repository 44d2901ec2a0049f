"""The `cloudctl` command line: global options, nouns and verbs, output and exit codes.

Exit codes: 0 success, 1 an API error or a failed wait (the message on
stderr), 2 a usage error. ``cloudctl up`` and ``cloudctl admin`` hand their
arguments to the launcher, imported only then.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from cloudctl.client import CloudApiError, CloudError
from cloudctl.commands import NOUNS, identity_admin, request_counts
from cloudctl.commands.common import Context
from cloudctl.output import FORMATS, emit

LAUNCHER = {"up": "main_up", "admin": "main_admin"}
_VALUED_GLOBALS = ("--os-cloud", "-f", "--format")


def _format_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("-f", "--format", choices=FORMATS, default=default,
                        help="output format (default: table)")


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser (global options, every noun and verb)."""
    parser = argparse.ArgumentParser(prog="cloudctl", description="Manage servers, flavors, images, "
                                     "cells, hosts and identity of a cells-based cloud.")
    parser.add_argument("--os-cloud", metavar="NAME",
                        help="cloud in clouds.yaml (default: $OS_CLOUD, else OS_* variables)")
    _format_option(parser, "table")
    parser.add_argument("--debug", action="store_true", help="log HTTP requests and show tracebacks")
    # Commands accept -f after the verb as well; SUPPRESS keeps the global value when it is absent.
    common = argparse.ArgumentParser(add_help=False)
    _format_option(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    for noun in NOUNS:
        noun.register(sub, [common])
    sub.add_parser("up", help="start a cloud (embedded or from cell configs)", add_help=False)
    # `admin identity|request-counts ...` are parsed here; the other admin tasks go to the launcher.
    admin = sub.add_parser("admin", help="operator tasks (db-sync, bootstrap, identity rotate-keys|jwks, "
                           "request-counts)", add_help=False)
    request_counts.register(identity_admin.register(admin, [common]), [common])
    return parser


def launcher_split(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """If the command is `up` or `admin`, return it and the arguments after it (global options skipped)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in LAUNCHER:
            return arg, list(argv[i + 1:])
        if arg in _VALUED_GLOBALS:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return None
    return None


def _launch(command: str, rest: list[str]) -> int:
    try:
        from cloudctl import up  # only the launcher imports the daemons; keep the CLI light
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"error: `cloudctl {command}` is not available: {exc}\n")
        return 1
    return int(getattr(up, LAUNCHER[command])(rest) or 0)


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("cloudctl")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 API error or failed wait, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    launcher = launcher_split(argv)
    if launcher and not (identity_admin.handles(*launcher) or request_counts.handles(*launcher)):
        return _launch(*launcher)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return int(exc.code or 0)
    _setup_logging(args.debug)
    ctx = ctx or Context()
    ctx.cloud = args.os_cloud
    try:
        result = args.func(ctx, args)
        emit(result, args.format, sys.stdout)
    except CloudError as exc:
        if args.debug:
            traceback.print_exc(file=ctx.stderr)
        request_id = f" [request {exc.request_id}]" if isinstance(exc, CloudApiError) and exc.request_id \
            else ""
        ctx.fail(f"{exc}{request_id}")
    except BrokenPipeError:  # e.g. `cloudctl server list | head`: the reader is gone, not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at interpreter exit
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return 130
    return ctx.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
