"""Metering benchmark: one collector's ingest rate, and the API cell's latency with metering off and on.

Ingest: starts `cloudctl up --deployed` with one compute cell (MariaDB,
RabbitMQ), boots --instances servers, lets the cell's collector learn them,
kills it, publishes --samples samples of those servers on the cell's broker
(what the agents send: 20 samples per guest per poll, polls 300 s apart going
back from now), then starts one collector pinned to one core (taskset) and
times it until every sample is stored and every hour is rolled up. Prints
samples/s over the drain, over the whole run (start-up and rollups included)
and per CPU second of the collector, and its peak RSS.

Latency: two clouds in turn (two compute cells, --hosts-per-cell simulated
hosts each, --servers servers): metering off (agents poll once a day, no
collectors) and on at 10x the normal rate (agents poll every 30 s, collectors
running). In each, --clients users list their servers (GET
/servers/detail?limit=50) and flavors against the API cell for --rounds windows
of --window seconds; prints p50/p95/p99 per window and overall, and the ratio.

    .venv/bin/python bench/metering.py                    # both parts
    .venv/bin/python bench/metering.py --part ingest --samples 400000
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pymysql
import requests
import yaml
from launch import start_cloud, stop_cloud
from stats import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metering.pollsters.notifier import SampleNotifier  # noqa: E402
from metering.pollsters.samples import Owner, Pollster  # noqa: E402

PORT_OFFSET = 800
NORMAL_POLL = 300.0  # metering.poll_interval's default


class Cloud:
    """A deployed cloud of the benchmark's own (its databases and vhosts dropped at the end)."""

    def __init__(self, cells: int, hosts_per_cell: int, poll: float) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="metering-bench-"))
        self.prefix = f"benchm{uuid.uuid4().hex[:6]}"
        self.cells = [f"cell{i}" for i in range(1, cells + 1)]
        self.proc, ok = start_cloud(["--deployed", "--fresh", "--state-dir", str(self.state),
                                     "--prefix", self.prefix, "--port-offset", str(PORT_OFFSET),
                                     "--cells", str(cells), "--hosts-per-cell", str(hosts_per_cell),
                                     "--metering-interval", str(poll)])
        if not ok:
            self.stop()
            raise SystemExit(f"the cloud did not start; logs in {self.state}/logs")
        self.clouds = yaml.safe_load((self.state / "clouds.yaml").read_text())["clouds"]
        self.compute = f"http://127.0.0.1:{8774 + PORT_OFFSET}/v2.1"
        self.identity = f"http://127.0.0.1:{5000 + PORT_OFFSET}/v3"
        self.images = f"http://127.0.0.1:{9292 + PORT_OFFSET}"

    def config(self, cell: str) -> Path:
        return self.state / "etc" / f"{cell}.yaml"

    def cell_conf(self, cell: str) -> dict:
        return yaml.safe_load(self.config(cell).read_text())

    def token(self, cloud: str) -> str:
        auth = self.clouds[cloud]["auth"]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
        resp = requests.post(self.identity + "/auth/tokens", json=body, timeout=30)
        resp.raise_for_status()
        return resp.headers["X-Subject-Token"]

    def kill_collectors(self) -> None:
        subprocess.run(["pkill", "-9", "-f", "--", f"cloud-metering --config {self.state}/etc/"],
                       timeout=30)
        time.sleep(1)

    def database(self, cell: str) -> pymysql.Connection:
        return pymysql.connect(host="127.0.0.1", user="root", password="",
                               database=f"{self.prefix}_{cell}", autocommit=True)

    def stop(self) -> None:
        subprocess.run(["pkill", "-9", "-f", "--", f"--config {self.state}/etc/"], timeout=30)
        stop_cloud(self.proc, self.prefix, ("top", *self.cells))


def boot(cloud: Cloud, count: int, clients: int = 8) -> list[dict]:
    """Boot ``count`` servers as the demo user and wait until all are ACTIVE; returns their details."""
    token = cloud.token("demo")
    session = requests.Session()
    session.headers["X-Auth-Token"] = cloud.token("admin")  # sees each server's host
    image = session.get(cloud.images + "/v2/images", params={"name": "tiny"}, timeout=30).json()
    image_id = image["images"][0]["id"]

    def one(n: int) -> str:
        s = requests.Session()
        s.headers["X-Auth-Token"] = token
        while True:
            resp = s.post(cloud.compute + "/servers", timeout=60, json={"server": {
                "name": f"metered-{n}", "flavorRef": "1", "imageRef": image_id}})
            if resp.status_code == 202:
                return resp.json()["server"]["id"]
            if resp.status_code not in (403, 503):
                raise SystemExit(f"boot failed: {resp.status_code} {resp.text}")
            time.sleep(1)

    # The API cell schedules from the cells' capacity reports: right after start-up it may
    # know of no cell yet, so one server first, until one becomes ACTIVE.
    while True:
        first = one(0)
        status = ""
        while status not in ("ACTIVE", "ERROR"):
            time.sleep(1)
            status = session.get(f"{cloud.compute}/servers/{first}", timeout=30).json()["server"]["status"]
        if status == "ACTIVE":
            break
        session.delete(f"{cloud.compute}/servers/{first}", timeout=30)
        time.sleep(2)
    with futures.ThreadPoolExecutor(clients) as pool:
        ids = {first, *pool.map(one, range(1, count))}
    deadline = time.monotonic() + 600
    while True:
        servers = session.get(cloud.compute + "/servers/detail",
                              params={"limit": 1000, "all_tenants": 1}, timeout=60).json()["servers"]
        mine = [s for s in servers if s["id"] in ids]
        if sum(s["status"] == "ACTIVE" for s in mine) == len(ids):
            return mine
        if any(s["status"] == "ERROR" for s in mine):
            raise SystemExit("a server went to ERROR; see the cloud's logs")
        if time.monotonic() > deadline:
            raise SystemExit("servers did not become ACTIVE in 600 s")
        time.sleep(2)


# --- ingest ----------------------------------------------------------------------

def synthetic_samples(servers: list[dict], total: int) -> list[dict]:
    """Samples as the agents send them: 20 per guest per poll, polls NORMAL_POLL s apart until now."""
    pollster = Pollster(interval=NORMAL_POLL)
    polls = max(2, -(-total // (len(servers) * 20)))
    now = time.time()
    out: list[dict] = []
    for k in range(polls):
        read_at = now - (polls - k) * NORMAL_POLL
        t = k * NORMAL_POLL
        for server in servers:
            counters = {"uuid": server["id"], "read_at": read_at, "vcpus": 1,
                        "cpu_time_ns": int(t * 0.4e9), "memory_used_kib": 300_000,
                        "memory_available_kib": 524_288,
                        "disks": [{"device": "vda", "read_bytes": int(t * 65536),
                                   "read_requests": int(t * 4), "write_bytes": int(t * 32768),
                                   "write_requests": int(t * 4)}],
                        "nics": [{"device": "tap" + server["id"][:11], "rx_bytes": int(t * 2048),
                                  "rx_packets": int(t * 2), "tx_bytes": int(t * 1024),
                                  "tx_packets": int(t * 2)}]}
            out.extend(pollster.samples(server["OS-EXT-SRV-ATTR:host"], counters,
                                        Owner(server["tenant_id"], server["user_id"])))
    return out[:total] if len(out) > total else out


def _count(conn: pymysql.Connection, query: str) -> int:
    with conn.cursor() as cur:
        cur.execute(query)
        return int(cur.fetchone()[0])


def _inserted(conn: pymysql.Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Handler_write'")
        return int(cur.fetchone()[1])


def _proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds used, peak RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def ingest(args: argparse.Namespace) -> dict:
    cloud = Cloud(cells=1, hosts_per_cell=20, poll=86400)
    try:
        servers = boot(cloud, args.instances)
        time.sleep(15)  # the collector's metadata refresh sees them
        cloud.kill_collectors()
        conn = cloud.database("cell1")
        raw_before = _count(conn, "SELECT COUNT(*) FROM metering_samples")
        samples = synthetic_samples(servers, args.samples)
        hours = {(s["instance_id"], s["timestamp"][:13]) for s in samples}
        notifier = SampleNotifier(cloud.cell_conf("cell1")["broker"]["url"], "cloud-compute.bench")
        started = time.perf_counter()
        notifier.send(samples)
        print(f"published {len(samples)} samples in {time.perf_counter() - started:.1f} s "
              f"({len(servers)} instances, {len(hours)} instance-hours)", flush=True)

        exe = os.path.join(os.path.dirname(sys.executable), "cloud-metering")
        log = open(cloud.state / "logs" / "cloud-metering-bench.log", "ab")
        t0 = time.perf_counter()
        proc = subprocess.Popen(["taskset", "-c", "1", exe, "--config", str(cloud.config("cell1"))],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        first = done = rolled = None
        cpu_at_first = 0.0
        want = raw_before + len(samples)
        deadline = t0 + 900
        last_revision, stable_since = -1, None
        inserted_before = _inserted(conn)
        while time.perf_counter() < deadline:
            # The server's row-write counter costs nothing; COUNT(*) of a growing table would load the
            # database the collector is writing to. Checked with COUNT(*) once at the end.
            stored = raw_before + _inserted(conn) - inserted_before
            now = time.perf_counter()
            if first is None and stored > raw_before + 1000:  # the collector's first batch, not heartbeats
                first = now
                cpu_at_first = _proc_stats(proc.pid)[0]  # start-up: imports, token, metadata
            if done is None and stored >= want:
                done = now
            if done is not None:
                revision = _count(conn, "SELECT COALESCE(MAX(revision), 0) FROM metering_rollups")
                if revision != last_revision:
                    last_revision, stable_since = revision, now
                elif now - stable_since > 12:  # two rollup rounds without a change
                    rolled = stable_since
                    break
            time.sleep(0.1)
        cpu, rss = _proc_stats(proc.pid)
        stored = _count(conn, "SELECT COUNT(*) FROM metering_samples")
        if stored < want:
            raise SystemExit(f"only {stored - raw_before} of {len(samples)} samples were stored")
        proc.terminate()
        proc.wait(timeout=30)
        if done is None or first is None:
            raise SystemExit(f"the collector stored {stored - raw_before} of {len(samples)} samples in 900 s")
        rollups = _count(conn, "SELECT COUNT(*) FROM metering_rollups")
        result = {
            "samples": len(samples), "instances": len(servers),
            "drain_s": round(done - first, 2), "total_s": round((rolled or done) - t0, 2),
            "samples_per_s_drain": round(len(samples) / max(done - first, 1e-9)),
            "samples_per_s_total": round(len(samples) / max((rolled or done) - t0, 1e-9)),
            "samples_per_cpu_s": round(len(samples) / max(cpu - cpu_at_first, 1e-9)),
            "collector_cpu_s": round(cpu, 2), "startup_cpu_s": round(cpu_at_first, 2),
            "rolled_after_s": round((rolled or done) - done, 2),
            "collector_peak_rss_mib": round(rss, 1),
            "rollup_rows": rollups,
        }
        print(f"ingest: {result['samples_per_s_drain']} samples/s stored while draining "
              f"({result['drain_s']} s), {result['samples_per_s_total']} samples/s from start-up to "
              f"the last rollup ({result['total_s']} s; rollups every 10 s, done "
              f"{result['rolled_after_s']} s after the last sample), {result['samples_per_cpu_s']} "
              f"per collector CPU second after start-up ({result['startup_cpu_s']} s); "
              f"collector peak RSS {result['collector_peak_rss_mib']} MiB; {rollups} rollup rows",
              flush=True)
        return result
    finally:
        cloud.stop()


# --- latency ----------------------------------------------------------------------

def _measure(cloud: Cloud, clients: int, window: float) -> list[float]:
    token = cloud.token("demo")
    stop = threading.Event()
    latencies: list[float] = []
    lock = threading.Lock()
    errors = [0]

    def user() -> None:
        s = requests.Session()
        s.headers["X-Auth-Token"] = token
        paths = [("/servers/detail", {"limit": 50}), ("/flavors/detail", {})]
        n = 0
        while not stop.is_set():
            path, params = paths[n % 2]
            n += 1
            begin = time.perf_counter()
            resp = s.get(cloud.compute + path, params=params, timeout=60)
            took = time.perf_counter() - begin
            with lock:
                if resp.status_code == 200:
                    latencies.append(took)
                else:
                    errors[0] += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=user) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(window)
    stop.set()
    for t in threads:
        t.join()
    if errors[0]:
        print(f"  {errors[0]} requests failed", flush=True)
    return latencies


def latency_of(mode: str, args: argparse.Namespace) -> dict:
    poll = 86400 if mode == "off" else NORMAL_POLL / 10
    cloud = Cloud(cells=2, hosts_per_cell=args.hosts_per_cell, poll=poll)
    try:
        if mode == "off":
            cloud.kill_collectors()
        boot(cloud, args.servers)
        time.sleep(args.settle)
        windows = []
        everything: list[float] = []
        for r in range(args.rounds):
            lat = _measure(cloud, args.clients, args.window)
            everything += lat
            windows.append({"n": len(lat), "p50_ms": round(percentile(lat, 50) * 1000, 2),
                            "p95_ms": round(percentile(lat, 95) * 1000, 2),
                            "p99_ms": round(percentile(lat, 99) * 1000, 2)})
            print(f"  metering {mode}, window {r + 1}: {windows[-1]}", flush=True)
        stored = 0
        if mode == "on":
            stored = sum(_count(cloud.database(c), "SELECT COUNT(*) FROM metering_samples")
                         for c in cloud.cells)
        return {"mode": mode, "poll_interval": poll, "windows": windows, "samples_stored": stored,
                "p50_ms": round(percentile(everything, 50) * 1000, 2),
                "p95_ms": round(percentile(everything, 95) * 1000, 2),
                "p99_ms": round(percentile(everything, 99) * 1000, 2), "requests": len(everything)}
    finally:
        cloud.stop()


def latency(args: argparse.Namespace) -> dict:
    off = latency_of("off", args)
    on = latency_of("on", args)
    ratio = on["p99_ms"] / off["p99_ms"]
    print(f"API cell user requests: p99 {off['p99_ms']} ms with metering off, {on['p99_ms']} ms with "
          f"metering on at 10x the normal rate ({on['samples_stored']} samples stored meanwhile): "
          f"x{ratio:.3f}", flush=True)
    return {"off": off, "on": on, "p99_ratio": round(ratio, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["ingest", "latency", "both"], default="both")
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--hosts-per-cell", type=int, default=25)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=45.0,
                        help="seconds between the last boot and the first window")
    args = parser.parse_args()
    result: dict = {}
    if args.part in ("ingest", "both"):
        result["ingest"] = ingest(args)
    if args.part in ("latency", "both"):
        result["latency"] = latency(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
