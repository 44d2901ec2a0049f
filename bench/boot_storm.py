"""Boot storm: boot N servers concurrently through the REST API, wait for ACTIVE, delete them.

Starts `cloudctl up --deployed` (two compute cells, 50 simulated hosts each,
MariaDB, RabbitMQ) unless --compute-url is given, then for each N in --sizes:
boots N servers from --clients concurrent clients, waits until all are
ACTIVE, measures the listing, deletes them and waits until all are gone.

Prints boots/s and deletes/s, API latency p50/p99, p95 from request accepted
to ACTIVE, database statements per boot (MariaDB's global Questions counter,
all cells), the spread over hosts, GET /servers/detail?limit=100 p99, each
daemon's peak RSS, and ends with one JSON line.

    .venv/bin/python bench/boot_storm.py                 # N = 50 and 500
    .venv/bin/python bench/boot_storm.py --sizes 200 --clients 20
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as futures
import datetime as dt
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

PORT_OFFSET = 700


def questions() -> int:
    conn = pymysql.connect(host="127.0.0.1", user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
            return int(cur.fetchone()[1])
    finally:
        conn.close()


class Cloud:
    """A deployed cloud started for the benchmark (stopped at the end), or one already running."""

    def __init__(self, hosts_per_cell: int, running: str | None = None) -> None:
        self.proc: subprocess.Popen[str] | None = None
        if running:
            self.state = Path(running).resolve()
            self.clouds = yaml.safe_load((self.state / "clouds.yaml").read_text())["clouds"]
            return
        self.state = Path(tempfile.mkdtemp(prefix="boot-storm-"))
        self.prefix = f"bench{uuid.uuid4().hex[:6]}"
        self.proc, ok = start_cloud(["--deployed", "--fresh", "--state-dir", str(self.state),
                                     "--prefix", self.prefix, "--port-offset", str(PORT_OFFSET),
                                     "--hosts-per-cell", str(hosts_per_cell)])
        if not ok:
            self.stop()
            raise SystemExit(f"the cloud did not start; logs in {self.state}/logs")
        self.clouds = yaml.safe_load((self.state / "clouds.yaml").read_text())["clouds"]

    def daemon_pids(self) -> dict[str, int]:
        """Daemon name (with cell) -> pid: processes whose --config lies in our state dir."""
        pids: dict[str, int] = {}
        etc = str(self.state / "etc") + os.sep
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode() for a in cmdline if a]
            if "--config" not in args or not args[args.index("--config") + 1].startswith(etc):
                continue
            interpreted = "python" in os.path.basename(args[0]) and len(args) > 1
            name = os.path.basename(args[1] if interpreted else args[0])
            config = Path(args[args.index("--config") + 1]).stem if "--config" in args else "?"
            tag = f"{name}[{config}]"
            if "--host" in args:
                tag = f"{name}[{args[args.index('--host') + 1]}]"
            pids[tag] = int(entry.name)
        return pids

    def peak_rss_mb(self) -> dict[str, float]:
        out = {}
        for tag, pid in sorted(self.daemon_pids().items()):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[tag] = round(int(line.split()[1]) / 1024, 1)
            except OSError:
                pass
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each daemon has used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        out = {}
        for tag, pid in self.daemon_pids().items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[tag] = (int(fields[11]) + int(fields[12])) / ticks
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_cloud(self.proc, self.prefix, ("top", "cell1", "cell2"))


def token(identity_url: str, auth: dict) -> tuple[str, dict]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    resp = requests.post(identity_url + "/auth/tokens", json=body, timeout=30)
    resp.raise_for_status()
    catalog = {e["type"]: next(ep["url"] for ep in e["endpoints"] if ep["interface"] == "public")
               for e in resp.json()["token"]["catalog"]}
    return resp.headers["X-Subject-Token"], catalog


class Storm:
    def __init__(self, compute_url: str, image_url: str, user_token: str, admin_token: str,
                 clients: int) -> None:
        self.compute = compute_url.rstrip("/")
        self.clients = clients
        self.local = threading.local()
        self.user_token = user_token
        self.admin = requests.Session()
        self.admin.headers["X-Auth-Token"] = admin_token
        images = self.admin.get(image_url.rstrip("/") + "/v2/images", params={"name": "tiny"},
                                timeout=30).json()["images"]
        self.image = images[0]["id"]
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "s"):
            self.local.s = requests.Session()
            self.local.s.headers["X-Auth-Token"] = self.user_token
        return self.local.s

    def _timed(self, method: str, url: str, **kw: object) -> requests.Response:
        start = time.perf_counter()
        resp = self.session().request(method, url, timeout=60, **kw)
        with self.lock:
            self.latencies.append(time.perf_counter() - start)
        return resp

    def boot_one(self, i: int, run: str) -> tuple[str | None, float]:
        body = {"server": {"name": f"storm-{run}-{i}", "flavorRef": "1", "imageRef": self.image}}
        resp = self._timed("POST", self.compute + "/servers", json=body)
        if resp.status_code != 202:
            return None, time.time()
        return resp.json()["server"]["id"], time.time()

    def delete_one(self, server_id: str) -> bool:
        return self._timed("DELETE", f"{self.compute}/servers/{server_id}").status_code == 204

    def list_all(self, **params: object) -> list[dict]:
        servers: list[dict] = []
        marker = None
        while True:
            query = {"limit": 1000, "all_tenants": 1} | params
            if marker:
                query["marker"] = marker
            page = self.admin.get(self.compute + "/servers/detail", params=query,
                                  timeout=60).json()["servers"]
            servers += page
            if len(page) < 1000:
                return servers
            marker = page[-1]["id"]

    def wait(self, ids: set[str], done: callable, timeout: float) -> dict[str, dict]:
        """Poll the listing until ``done(server)`` holds for every id; returns last views.

        Polls with changes-since, as a client watching many servers should, so
        the benchmark's own polling costs the API little.
        """
        deadline = time.monotonic() + timeout
        seen: dict[str, dict] = {}
        finished_at: dict[str, float] = {}
        since: str | None = None
        while time.monotonic() < deadline:
            now = time.time()
            params = {"changes-since": since} if since else {}
            # Overlap generously: updated_at has one-second resolution and is stamped
            # when the index's transaction starts, which under load can be seconds
            # before it commits.
            since = dt.datetime.fromtimestamp(now - 10, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for view in self.list_all(**params):
                if view["id"] in ids:
                    seen[view["id"]] = view
            for server_id in ids:
                if server_id not in finished_at and done(seen.get(server_id)):
                    finished_at[server_id] = now
            if len(finished_at) == len(ids):
                break
            time.sleep(0.1)
        for server_id, at in finished_at.items():
            seen.setdefault(server_id, {})["_done_at"] = at
        return seen

    def run(self, n: int) -> dict:
        run = uuid.uuid4().hex[:6]
        self.latencies = []
        q0 = questions()
        t0 = time.monotonic()
        with futures.ThreadPoolExecutor(self.clients) as pool:
            results = list(pool.map(lambda i: self.boot_one(i, run), range(n)))
        accepted = {sid: at for sid, at in results if sid}
        booted = self.wait(set(accepted), lambda v: bool(v) and v["status"] in ("ACTIVE", "ERROR"),
                           timeout=max(60, n / 5))
        t_boot = time.monotonic() - t0
        q1 = questions()
        active = [sid for sid, v in booted.items() if v.get("status") == "ACTIVE"]
        errors = n - len(active)
        # When the poller first saw it ACTIVE: an upper bound (polls are ~0.1 s apart),
        # since launched_at is stored to the second.
        to_active = [booted[sid]["_done_at"] - accepted[sid] for sid in active]
        per_host = collections.Counter(booted[sid].get("OS-EXT-SRV-ATTR:host") for sid in active)
        boot_latencies = list(self.latencies)
        list_times = []
        for _ in range(100):
            start = time.perf_counter()
            resp = self.session().get(self.compute + "/servers/detail", params={"limit": 100},
                                      timeout=30)
            list_times.append(time.perf_counter() - start)
            assert resp.status_code == 200
        self.latencies = []
        t1 = time.monotonic()
        with futures.ThreadPoolExecutor(self.clients) as pool:
            deleted = list(pool.map(self.delete_one, list(accepted)))
        self.wait(set(accepted), lambda v: v is not None and v["status"] == "DELETED",
                  timeout=max(60, n / 5))
        t_delete = time.monotonic() - t1
        mean = len(active) / max(1, len(per_host))
        return {
            "servers": n, "errors": errors + deleted.count(False),
            "boot_per_s": round(len(active) / t_boot, 2), "delete_per_s": round(n / t_delete, 2),
            "boot_seconds": round(t_boot, 2), "delete_seconds": round(t_delete, 2),
            "api_p50_ms": round(percentile(boot_latencies + self.latencies, 50) * 1000, 1),
            "api_p99_ms": round(percentile(boot_latencies + self.latencies, 99) * 1000, 1),
            "accept_to_active_p50_s": round(percentile(to_active, 50), 3),
            "accept_to_active_p95_s": round(percentile(to_active, 95), 3),
            "statements_per_boot": round((q1 - q0) / max(1, n), 1),
            "hosts_used": len(per_host),
            "max_host_over_mean": round(max(per_host.values(), default=0) / max(mean, 1e-9), 2),
            "list_detail_limit100_p50_ms": round(percentile(list_times, 50) * 1000, 1),
            "list_detail_limit100_p99_ms": round(percentile(list_times, 99) * 1000, 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500", help="comma-separated N (default 50,500)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent API clients")
    parser.add_argument("--hosts-per-cell", type=int, default=50)
    parser.add_argument("--running", metavar="STATE_DIR",
                        help="use a deployed cloud already running from STATE_DIR "
                             "(with --port-offset) instead of starting one")
    parser.add_argument("--port-offset", type=int, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    global PORT_OFFSET
    if args.port_offset is not None:
        PORT_OFFSET = args.port_offset
    cloud = Cloud(args.hosts_per_cell, args.running)
    try:
        identity = f"http://127.0.0.1:{5000 + PORT_OFFSET}/v3"
        user_token, catalog = token(identity, cloud.clouds["demo"]["auth"])
        admin_token, _ = token(identity, cloud.clouds["admin"]["auth"])
        storm = Storm(catalog["compute"], catalog["image"], user_token, admin_token, args.clients)
        # Schedulers re-read capacity reports every few seconds: give them one
        # period after the last compute cell reported, as a running cloud would have.
        time.sleep(6)
        results = []
        for n in sizes:
            cpu0 = cloud.cpu_seconds()
            result = storm.run(n)
            cpu1 = cloud.cpu_seconds()
            result["cpu_seconds"] = {k: round(cpu1[k] - cpu0.get(k, 0.0), 2) for k in cpu1}
            results.append(result)
            print(f"N={n}: boot {result['boot_per_s']}/s ({result['boot_seconds']} s), delete "
                  f"{result['delete_per_s']}/s, errors {result['errors']}; API p50 "
                  f"{result['api_p50_ms']} ms p99 {result['api_p99_ms']} ms; accepted->ACTIVE "
                  f"p50 {result['accept_to_active_p50_s']} s p95 "
                  f"{result['accept_to_active_p95_s']} s; {result['statements_per_boot']} SQL "
                  f"statements/boot; {result['hosts_used']} hosts, max/mean "
                  f"{result['max_host_over_mean']}; GET /servers/detail?limit=100 p99 "
                  f"{result['list_detail_limit100_p99_ms']} ms", flush=True)
            busiest = sorted(result["cpu_seconds"].items(), key=lambda kv: -kv[1])
            print("  CPU seconds by daemon (boot + list + delete): "
                  + ", ".join(f"{k} {v}" for k, v in busiest), flush=True)
        rss = cloud.peak_rss_mb()
        print("peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in rss.items()))
        summary = dict(results[-1])
        summary["cores"] = os.cpu_count()
        summary["peak_rss_mb"] = rss
        if len(results) > 1:
            summary["boot_per_s_ratio_largest_to_smallest"] = round(
                results[-1]["boot_per_s"] / max(results[0]["boot_per_s"], 1e-9), 2)
            summary["runs"] = results
        print(json.dumps(summary))
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
