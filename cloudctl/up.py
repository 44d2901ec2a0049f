"""`cloudctl up` and `cloudctl admin`: start a whole cloud, prepare cells' databases.

Embedded (default): every daemon of an API cell and two compute cells in this
one process, on SQLite and in-process brokers, with simulated hypervisors.
Deployed (--deployed): one process per daemon per cell against MariaDB and
RabbitMQ, stopped together on Ctrl-C. This is the only module of cloudctl
that imports the daemons, to launch them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from cloudctl.topology import API_PORT, DEFAULT_FLAVORS, IDENTITY_PORT, IMAGES_PORT, Topology

READY_TIMEOUT = 120.0


def _say(message: str) -> None:
    print(message, flush=True)


# --- preparation shared by both modes -----------------------------------------

def _secret(topo: Topology, name: str) -> str:
    """Return the password stored under ``name``, creating it (0600) on first use."""
    path = Path(topo.secret_file(name))
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def _write_private(path: str, data: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)


def _for_each_database(topo: Topology, statement: str) -> None:
    """Run ``statement`` (with ``{name}`` for the database) for every cell on the MariaDB server."""
    import pymysql
    import sqlalchemy as sa

    url = sa.engine.make_url(topo.db_url)
    conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306,
                           user=url.username or "root", password=url.password or "")
    try:
        with conn.cursor() as cur:
            for cell in topo.cells:
                cur.execute(statement.format(name=topo.database_name(cell)))
    finally:
        conn.close()


def _create_backing_stores(topo: Topology) -> None:
    """Deployed mode: create each cell's MariaDB database and RabbitMQ virtual host."""
    import sqlalchemy as sa

    _for_each_database(topo, "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        raise SystemExit("cloudctl up --deployed: rabbitmqctl not found; install rabbitmq-server")
    user = (sa.engine.make_url(topo.rabbit_url.replace("rabbit://", "mysql://")).username
            or "guest")
    for cell in topo.cells:
        for cmd in ([rabbitmqctl, "add_vhost", topo.vhost(cell)],
                    [rabbitmqctl, "set_permissions", "-p", topo.vhost(cell), user, ".*", ".*", ".*"]):
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if result.returncode != 0 and "already exists" not in result.stderr:
                raise SystemExit(f"cloudctl up: {' '.join(cmd[1:])} failed: {result.stderr.strip()}")


def _drop_backing_stores(topo: Topology) -> None:
    _for_each_database(topo, "DROP DATABASE IF EXISTS `{name}`")
    rabbitmqctl = shutil.which("rabbitmqctl")
    for cell in topo.cells:
        if rabbitmqctl:
            subprocess.run([rabbitmqctl, "delete_vhost", topo.vhost(cell)], capture_output=True,
                           timeout=120)


def prepare(topo: Topology) -> dict[str, Any]:
    """Write configs and secrets, create and migrate databases, bootstrap identity.

    Returns {"configs": {cell name: config path}, "admin_password", "demo_password"}.
    """
    from cells import config as config_mod
    from cells.db import migrate
    from cells.db.engine import Database
    from identity import bootstrap as identity_bootstrap

    state = Path(topo.state_dir)
    for sub in ("etc", "logs"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    admin_password = _secret(topo, "admin")
    demo_password = _secret(topo, "demo")
    if topo.deployed:
        _create_backing_stores(topo)
    configs: dict[str, str] = {}
    for cell in topo.cells:
        Path(topo.cell_dir(cell)).mkdir(parents=True, exist_ok=True)
        path = topo.config_file(cell)
        _write_private(path, topo.config(cell))
        configs[cell.name] = path
        conf = config_mod.load(path)
        migrate.upgrade(conf.database_url, conf.type)
        if cell.type == "site":
            continue
        db = Database(conf.database_url)
        try:
            accounts = {cell.service_user: _secret(topo, cell.service_user)}
            if cell.type == "api":
                identity_bootstrap.bootstrap(conf, db, admin_password, demo_password, accounts)
            else:
                identity_bootstrap.bootstrap(conf, db, admin_password, None, accounts)
        finally:
            db.dispose()
    clouds = os.path.join(topo.state_dir, "clouds.yaml")
    _write_private(clouds, topo.clouds_yaml(admin_password, demo_password))
    return {"configs": configs, "admin_password": admin_password, "demo_password": demo_password,
            "clouds_yaml": os.path.abspath(clouds)}


# --- readiness and seed data ---------------------------------------------------

def _get(url: str, timeout: float = 2.0) -> int:
    import requests

    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return 0


def wait_ready(topo: Topology, configs: dict[str, str], is_alive: Any = None) -> None:
    """Block until every endpoint answers and every compute cell reported all its hosts up."""
    import sqlalchemy as sa

    from cells import config as config_mod
    from cells.db.api_models import ChildCapacity
    from cells.db.engine import DATABASES

    deadline = time.monotonic() + READY_TIMEOUT
    top = topo.cells[0]
    served = [c for c in topo.cells if c.type != "site"]
    endpoints = [topo.url(IDENTITY_PORT, c) + "/v3" for c in served]
    endpoints += [topo.url(IMAGES_PORT, c) + "/versions" for c in served]
    endpoints += [topo.url(API_PORT, c) + "/" for c in served]
    pending = list(endpoints)
    while pending:
        if is_alive and not is_alive():
            raise SystemExit("cloudctl up: stopped during start-up (interrupted, or a daemon "
                             "exited; see the logs)")
        pending = [u for u in pending if _get(u) == 0]
        if time.monotonic() > deadline:
            raise SystemExit("cloudctl up: not answering: " + ", ".join(pending))
        if pending:
            time.sleep(0.3)
    top_db = DATABASES.get(config_mod.load(configs[top.name]).database_url)
    expected = {c.path for c in topo.compute_cell_plans}
    while True:
        with top_db.session() as session:
            rows = session.execute(sa.select(ChildCapacity.cell_path, ChildCapacity.hosts_up)).all()
        ready = {path for path, up in rows if up >= topo.hosts_per_cell}
        if expected <= ready:
            return
        if is_alive and not is_alive():
            raise SystemExit("cloudctl up: a daemon exited during start-up; see the logs")
        if time.monotonic() > deadline:
            raise SystemExit("cloudctl up: compute cells not reporting all hosts: "
                             + ", ".join(sorted(expected - ready)))
        time.sleep(0.3)


def seed(topo: Topology, configs: dict[str, str], admin_password: str) -> None:
    """Create the default flavors and a small public image, unless they exist."""
    import requests

    from cells import config as config_mod
    from cells.db.api_models import Flavor
    from cells.db.engine import DATABASES

    top = topo.cells[0]
    db = DATABASES.get(config_mod.load(configs[top.name]).database_url)
    with db.session() as session:
        existing = {f for (f,) in session.execute(Flavor.__table__.select().with_only_columns(
            Flavor.flavorid))}
        for flavorid, name, vcpus, ram, disk in DEFAULT_FLAVORS:
            if flavorid not in existing:
                session.add(Flavor(flavorid=flavorid, name=name, vcpus=vcpus, memory_mb=ram,
                                   root_gb=disk))
    auth = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = requests.post(topo.url(IDENTITY_PORT, top) + "/v3/auth/tokens", json=auth, timeout=30)
    resp.raise_for_status()
    headers = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
    images = topo.url(IMAGES_PORT, top) + "/v2/images"
    found = requests.get(images, params={"name": "tiny"}, headers=headers, timeout=30)
    found.raise_for_status()
    if found.json().get("images"):
        return
    created = requests.post(images, headers=headers, timeout=30, json={
        "name": "tiny", "disk_format": "raw", "container_format": "bare",
        "visibility": "public", "min_disk": 0, "min_ram": 0})
    created.raise_for_status()
    image = created.json()
    # A 1 MiB disk whose first sector says what it is; enough for simulated hosts.
    data = b"cloud tiny image\n".ljust(512, b"\0") + os.urandom(2**20 - 512)
    requests.put(f"{images}/{image['id']}/file", data=data, timeout=60,
                 headers=headers | {"Content-Type": "application/octet-stream"}).raise_for_status()


def _ready_line(topo: Topology, prepared: dict[str, Any]) -> str:
    top = topo.cells[0]
    mode = "deployed" if topo.deployed else "embedded"
    return (f"cloud ready ({mode}): compute {topo.url(API_PORT, top)}/v2.1, identity "
            f"{topo.url(IDENTITY_PORT, top)}/v3, images {topo.url(IMAGES_PORT, top)}; "
            f"{topo.compute_cells} compute cells x {topo.hosts_per_cell} hosts"
            f"{' below site1' if topo.site else ''}; "
            f"clouds.yaml: {prepared['clouds_yaml']} (clouds: admin, demo)")


# --- embedded ------------------------------------------------------------------

def _daemon_builders(cell_type: str) -> list[tuple[str, Any]]:
    from api import cmd as api_cmd
    from cells import cmd as cells_cmd
    from compute_agent import cmd as compute_cmd
    from identity import cmd as identity_cmd
    from images import cmd as images_cmd
    from metering import cmd as metering_cmd
    from scheduler import cmd as scheduler_cmd

    if cell_type == "site":
        return [("cloud-cells", cells_cmd.build)]
    builders: list[tuple[str, Any]] = [("cloud-identity", identity_cmd.build),
                                       ("cloud-images", images_cmd.build),
                                       ("cloud-cells", cells_cmd.build),
                                       ("cloud-scheduler", scheduler_cmd.build)]
    if cell_type == "compute":
        builders.append(("cloud-compute", compute_cmd.build))
    # The API cell's Compute API for users; a compute cell's read-only one for its service accounts.
    builders.append(("cloud-api", api_cmd.build))
    # Compute cells' collectors read the cell-local API; the API cell's accounting gathers them.
    builders.append(("cloud-metering", metering_cmd.build))
    return builders


def run_embedded(topo: Topology) -> int:
    from cells import config as config_mod
    from cells import service

    prepared = prepare(topo)
    service.setup_logging(None, "cloudctl-up")
    import logging

    log_file = os.path.join(topo.state_dir, "logs", "embedded.log")
    handler = logging.FileHandler(log_file)
    handler.setFormatter(service.RedactingFormatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handler.addFilter(service.RedactingFilter())
    logging.getLogger().handlers[:] = [handler]
    started: list[Any] = []
    try:
        for cell in topo.cells:
            conf = config_mod.load(prepared["configs"][cell.name])
            for _name, build in _daemon_builders(cell.type):
                # Simulated hosts are many per process; a real hypervisor has one agent.
                args = argparse.Namespace(config=prepared["configs"][cell.name],
                                          host=f"{cell.name}-host",
                                          simulate=topo.hosts_per_cell if topo.simulated else 0)
                started += service.start_all(build(conf, args))
        wait_ready(topo, prepared["configs"])
        seed(topo, prepared["configs"], prepared["admin_password"])
        _say(_ready_line(topo, prepared))
        _say(f"logs: {log_file}; press Ctrl-C to stop")
        service.wait_for_signal()
    finally:
        _say("stopping ...")
        service.stop_all(started)
    return 0


# --- deployed ------------------------------------------------------------------

class Supervisor:
    """Starts one process per daemon per cell and stops them all together."""

    def __init__(self, topo: Topology, configs: dict[str, str]) -> None:
        self.topo = topo
        self.configs = configs
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _exe(self, name: str) -> str:
        local = os.path.join(os.path.dirname(sys.executable), name)
        return local if os.path.exists(local) else (shutil.which(name) or name)

    def spawn(self, name: str, cell: str, extra: list[str] | None = None,
              tag: str | None = None) -> None:
        log = open(os.path.join(self.topo.state_dir, "logs", f"{name}-{tag or cell}.log"), "ab")
        cmd = [self._exe(name), "--config", self.configs[cell], *(extra or [])]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs.append((f"{name}[{tag or cell}]", proc))

    def start(self, hosts_per_process: int) -> None:
        for cell in self.topo.cells:
            for name, _build in _daemon_builders(cell.type):
                if name != "cloud-compute":
                    self.spawn(name, cell.name)
                    continue
                if not self.topo.simulated:
                    self.spawn(name, cell.name, ["--host", f"{cell.name}-host"])
                    continue
                chunks = range(0, self.topo.hosts_per_cell, hosts_per_process)
                for n, start in enumerate(chunks, 1):
                    count = min(hosts_per_process, self.topo.hosts_per_cell - start)
                    self.spawn(name, cell.name, ["--host", f"{cell.name}-h{n}",
                                                 "--simulate", str(count)], f"{cell.name}-{n}")

    def alive(self) -> bool:
        return all(proc.poll() is None for _name, proc in self.procs)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs if proc.poll() is not None]

    def stop(self) -> None:
        # API first so no new work comes in, identity last.
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_deployed(topo: Topology, hosts_per_process: int) -> int:
    prepared = prepare(topo)
    supervisor = Supervisor(topo, prepared["configs"])
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start(hosts_per_process)
        wait_ready(topo, prepared["configs"],
                   lambda: supervisor.alive() and not stop.is_set())
        seed(topo, prepared["configs"], prepared["admin_password"])
        _say(_ready_line(topo, prepared))
        _say(f"{len(supervisor.procs)} processes; logs in "
             f"{os.path.abspath(os.path.join(topo.state_dir, 'logs'))}; press Ctrl-C to stop")
        reported: set[str] = set()
        while not stop.wait(1.0):
            for name in supervisor.dead():
                if name not in reported:
                    reported.add(name)
                    _say(f"warning: {name} exited; see its log")
    finally:
        _say("stopping ...")
        supervisor.stop()
    return 0


# --- entry points ----------------------------------------------------------------

def up_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudctl up", description=(
        "Start a cloud: an API cell and compute cells with simulated hypervisors."))
    parser.add_argument("--deployed", action="store_true",
                        help="one process per daemon per cell on MariaDB and RabbitMQ")
    parser.add_argument("--state-dir", default=None,
                        help="where configs, secrets, databases and logs go "
                             "(default ./.cloud, or ./.cloud-deployed with --deployed)")
    parser.add_argument("--cells", type=int, default=2, help="compute cells (default 2)")
    parser.add_argument("--hosts-per-cell", type=int, default=4,
                        help="simulated hypervisors per compute cell (default 4)")
    parser.add_argument("--hosts-per-process", type=int, default=25,
                        help="deployed: simulated hypervisors per cloud-compute process")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="added to every port (5000, 8774, 9292 and up)")
    parser.add_argument("--db-url", default=os.environ.get(
        "CLOUD_DB_URL", "mysql+pymysql://root@127.0.0.1:3306"),
        help="deployed: MariaDB server URL without database ($CLOUD_DB_URL)")
    parser.add_argument("--rabbit-url", default=os.environ.get(
        "CLOUD_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672"),
        help="deployed: RabbitMQ URL without virtual host ($CLOUD_RABBIT_URL)")
    parser.add_argument("--prefix", default="cloud",
                        help="prefix of database and virtual host names (default cloud)")
    parser.add_argument("--fresh", action="store_true",
                        help="discard the state directory (and deployed databases) first")
    parser.add_argument("--site", action="store_true",
                        help="put the compute cells below a site cell (top!site1!cellN)")
    parser.add_argument("--libvirt-uri", default="test:///auto",
                        help="hypervisor URI for every agent (default: simulated hosts)")
    parser.add_argument("--virt-type", choices=["kvm", "qemu"], default="kvm")
    parser.add_argument("--transition-timeout", type=float, default=600.0,
                        help="seconds before a BUILD/DELETING/REBOOTING is resolved with a fault")
    parser.add_argument("--metering-interval", type=_positive, default=None, metavar="SECONDS",
                        help="how often the agents sample their guests (default 300)")
    parser.add_argument("--metering-hour", type=_hour, default=None, metavar="SECONDS",
                        help="length of a metering hour, for tests and demos (default 3600; "
                             "also shortens the collectors' and accounting's periods)")
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text[:32]!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text[:32]!r}")
    return value


def _hour(text: str) -> float:
    value = _positive(text)
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 1 to 3600 seconds, got {text[:32]!r}")
    return value


def topology_from_args(args: argparse.Namespace) -> Topology:
    state_dir = args.state_dir or (".cloud-deployed" if args.deployed else ".cloud")
    return Topology(state_dir=state_dir, compute_cells=args.cells,
                    hosts_per_cell=args.hosts_per_cell, port_offset=args.port_offset,
                    deployed=args.deployed, db_url=args.db_url, rabbit_url=args.rabbit_url,
                    prefix=args.prefix, libvirt_uri=args.libvirt_uri, virt_type=args.virt_type,
                    transition_timeout=args.transition_timeout, site=args.site,
                    metering_interval=args.metering_interval, metering_hour=args.metering_hour)


def main_up(argv: list[str]) -> int:
    """`cloudctl up`: prepare and run a cloud until Ctrl-C; returns the exit code."""
    from cells.exception import ConfigError

    try:
        return _main_up(argv)
    except ConfigError as exc:
        print(f"cloudctl up: {exc.message}", file=sys.stderr)
        return 2


def _main_up(argv: list[str]) -> int:
    args = up_parser().parse_args(argv)
    topo = topology_from_args(args)
    if not topo.simulated and topo.hosts_per_cell != 1:
        print("cloudctl up: with a real hypervisor (--libvirt-uri) each compute cell has one "
              "host: pass --hosts-per-cell 1", file=sys.stderr)
        return 2
    if args.fresh:
        if topo.deployed:
            _drop_backing_stores(topo)
        shutil.rmtree(topo.state_dir, ignore_errors=True)
    if topo.deployed:
        return run_deployed(topo, args.hosts_per_process)
    return run_embedded(topo)


def main_admin(argv: list[str]) -> int:
    """`cloudctl admin db-sync|bootstrap --config FILE`: operator tasks on one cell."""
    parser = argparse.ArgumentParser(prog="cloudctl admin")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("db-sync", help="create or upgrade the cell's database schema")
    sync.add_argument("--config", required=True)
    boot = sub.add_parser("bootstrap", help="create the cell's identity accounts")
    boot.add_argument("--config", required=True)
    boot.add_argument("--admin-password-file")
    boot.add_argument("--demo-password-file")
    boot.add_argument("--service-account", action="append", default=[], metavar="NAME=FILE")
    args = parser.parse_args(argv)

    from cells import config as config_mod
    from cells.db import migrate
    from cells.exception import ConfigError

    try:
        conf = config_mod.load(args.config)
    except ConfigError as exc:
        print(f"cloudctl admin: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "db-sync":
        trees = migrate.upgrade(conf.database_url, conf.type)
        _say(f"{conf.path}: schema up to date ({', '.join(trees)})")
        return 0
    from cells.db.engine import Database
    from identity import bootstrap as identity_bootstrap

    def read(path: str | None) -> str | None:
        return Path(path).read_text().strip() if path else None

    accounts = {}
    for item in args.service_account:
        name, _, path = item.partition("=")
        accounts[name] = Path(path).read_text().strip()
    db = Database(conf.database_url)
    admin_password = read(args.admin_password_file)
    if conf.type == "api" and not admin_password:
        print("cloudctl admin bootstrap: --admin-password-file is required for the API cell",
              file=sys.stderr)
        return 2
    identity_bootstrap.bootstrap(conf, db, admin_password or "", read(args.demo_password_file),
                                 accounts)
    _say(f"{conf.path}: identity bootstrapped")
    return 0
