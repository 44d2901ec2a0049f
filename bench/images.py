"""Images benchmark: the master's throughput and memory, a cell cache's misses and hits, pre-staging.

Starts `cloudctl up --deployed --cells 1 --hosts-per-cell 50` (an API cell
and one compute cell, one process per daemon, MariaDB, RabbitMQ, file
stores; one host with --skip-prestage), then:

1. Master (`cloud-images` of the API cell, real HTTP, as the demo user):
   uploads a ``--size-mib`` image with a Content-Length, streamed from a
   generator (the client holds no file), then downloads it streamed and
   checks its SHA-512. Prints MiB/s each way, the daemon's CPU seconds per
   GiB and its peak RSS (VmHWM) before and after. For scale, the same run
   measures what bounds them on this machine: MD5 + SHA-512 on one core (an
   upload computes both), SHA-512 alone (a download verifies it), and
   writing the same amount to the store's disk with fsync.
2. Cell cache (`cloud-images` of top!cell1, with the cell's service token):
   the big image's first download through the cache (a miss: fetched from
   the master, verified, stored, served) and a second one (a hit); then
   ``--small`` small images: first fetch of metadata and of data (misses),
   and ``--hits`` requests of each served from the cache, with p50/p95/p99.
3. Pre-staging (the compute cell has ``--prestage-hosts`` simulated hosts,
   25 per `cloud-compute` process, each with its own cache directory): two
   fresh ``--prestage-mib`` images are staged on every host through the API
   as `cloudctl image prestage` does it (POST /v2.1/os-image-prestages, then
   GET until done), one with the cell's fan-out tree (its own settings), one
   with each host in turn from the cell's image endpoint (endpoint_copies 1,
   peer_copies 0). Prints each one's wall time, hosts done and failed, copies
   from peers and from the endpoint, the tree's depth, the bytes the cell's
   image daemon served (its /v2/cache/stats), the cores kept busy, and the
   ratio. Here every host and the endpoint share this machine's cores over
   loopback, so CPU (hashing every copy) bounds both modes, not the
   endpoint's bandwidth; the output says so, and what the plan gives where
   links are the bound.

Ends with one JSON line holding every figure.

    .venv/bin/python bench/images.py                    # 1 GiB, 50 hosts x 64 MiB, about 1 min 45 s
    .venv/bin/python bench/images.py --quick            # 256 MiB, 50 hosts x 32 MiB, about 60 s
    .venv/bin/python bench/images.py --size-mib 4096 --skip-prestage
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
import yaml
from launch import start_cloud, stop_cloud
from stats import percentile

from cloudctl.client import Client
from scheduler.fanout import Copy, FanOut

MiB = 1024 * 1024
BLOCK = os.urandom(MiB)


# --- the cloud ---------------------------------------------------------------------------


class Cloud:
    """`cloudctl up --deployed` with one compute cell of ``hosts`` simulated hosts, stopped and
    dropped at the end."""

    def __init__(self, port_offset: int, hosts: int = 1) -> None:
        self.port_offset = port_offset
        self.state = Path(tempfile.mkdtemp(prefix="bench-images-"))
        self.prefix = f"benchimg{uuid.uuid4().hex[:6]}"
        self.proc, ok = start_cloud(["--deployed", "--fresh", "--state-dir", str(self.state), "--cells", "1",
                                     "--hosts-per-cell", str(hosts), "--prefix", self.prefix,
                                     "--port-offset", str(port_offset)])
        if not ok:
            self.stop(keep_state=True)
            raise SystemExit(f"the cloud did not start; logs in {self.state}/logs")

    def url(self, base_port: int, cell: int = 0) -> str:
        return f"http://127.0.0.1:{base_port + self.port_offset + cell}"

    def token(self, user: str, cell: int = 0) -> str:
        """A project-scoped token of ``user`` (demo, or the cell's service account)."""
        if cell == 0:
            auth = yaml.safe_load((self.state / "clouds.yaml").read_text())["clouds"][user]["auth"]
            name, password, project = auth["username"], auth["password"], auth["project_name"]
        else:
            name, project = user, "service"
            password = (self.state / "secrets" / user).read_text().strip()
        response = requests.post(self.url(5000, cell) + "/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": name, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def pid(self, daemon: str, cell: str) -> int:
        """The pid of ``daemon`` running with this cloud's configuration of ``cell``."""
        config = str(self.state / "etc" / f"{cell}.yaml")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            except OSError:
                continue
            if config in args and any(os.path.basename(a) == daemon for a in args[:2]):
                return int(entry.name)
        raise SystemExit(f"no {daemon} process for {config}")

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every daemon of this cloud (each runs with a config of ours)."""
        etc, total = str(self.state / "etc") + "/", 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if any(a.startswith(etc.encode()) for a in (entry / "cmdline").read_bytes().split(b"\0")):
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # it ended meanwhile
        return total

    def stop(self, keep_state: bool = False) -> None:
        stop_cloud(self.proc, self.prefix, ("top", "cell1"))
        if not keep_state:
            shutil.rmtree(self.state, ignore_errors=True)


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds this machine's cores have spent busy (anything but idle and iowait), all cores."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


# --- data --------------------------------------------------------------------------------


def chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes in 1 MiB chunks, each different (its number first), made as they are sent."""
    for i in range(size // MiB):
        yield i.to_bytes(8, "big") + BLOCK[8:]
    if size % MiB:
        yield (size // MiB).to_bytes(8, "big") + BLOCK[8:size % MiB]


class Sized:
    """A body of known length streamed from ``chunks``: requests sends a Content-Length, not chunked."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        return chunks(self.size)


def sha512_of(size: int) -> str:
    digest = hashlib.sha512()
    for chunk in chunks(size):
        digest.update(chunk)
    return digest.hexdigest()


def timed_download(session: requests.Session, url: str) -> tuple[float, float, int, str]:
    """GET ``url`` streamed; returns (seconds to the first byte, seconds, bytes, SHA-512 of the body)."""
    digest, received, first = hashlib.sha512(), 0, float("nan")
    started = time.perf_counter()
    with session.get(url, stream=True, timeout=600) as response:
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:200]}")
        for chunk in response.iter_content(MiB):
            if not received:
                first = time.perf_counter() - started
            digest.update(chunk)
            received += len(chunk)
    return first, time.perf_counter() - started, received, digest.hexdigest()


def create_image(session: requests.Session, base: str, name: str) -> str:
    response = session.post(base + "/v2/images", timeout=30, json={
        "name": name, "disk_format": "raw", "container_format": "bare"})
    response.raise_for_status()
    return str(response.json()["id"])


def mib_s(size: int, seconds: float) -> float:
    return round(size / MiB / seconds, 1)


# --- 0. what bounds the master on this machine ---------------------------------------------


def ceilings(size: int, store_dir: Path) -> dict[str, float]:
    """MiB/s of MD5 + SHA-512 and of SHA-512 on one core, and of writing ``size`` with fsync."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    started = time.perf_counter()
    for chunk in chunks(size):
        md5.update(chunk)
        sha.update(chunk)
    both = time.perf_counter() - started
    sha = hashlib.sha512()
    started = time.perf_counter()
    for chunk in chunks(size):
        sha.update(chunk)
    alone = time.perf_counter() - started
    path = store_dir / f".bench-{uuid.uuid4().hex}"
    started = time.perf_counter()
    try:
        with open(path, "wb") as f:
            for chunk in chunks(size):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        disk = time.perf_counter() - started
    finally:
        path.unlink(missing_ok=True)
    return {"md5_sha512_mib_s": mib_s(size, both), "sha512_mib_s": mib_s(size, alone),
            "disk_write_fsync_mib_s": mib_s(size, disk)}


# --- 1. the master ---------------------------------------------------------------------------


def master(cloud: Cloud, size: int) -> dict[str, Any]:
    base = cloud.url(9292)
    pid = cloud.pid("cloud-images", "top")
    session = requests.Session()
    session.headers["X-Auth-Token"] = cloud.token("demo")
    expected = sha512_of(size)
    image_id = create_image(session, base, "bench-big")
    out: dict[str, Any] = {"size_mib": size // MiB, "image_id": image_id,
                           "rss_before_mib": vm_hwm_mib(pid)}

    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    response = session.put(f"{base}/v2/images/{image_id}/file", data=Sized(size), timeout=3600,
                           headers={"Content-Type": "application/octet-stream"})
    took = time.perf_counter() - started
    if response.status_code != 204:
        raise SystemExit(f"upload answered {response.status_code}: {response.text[:200]}")
    out["upload_mib_s"] = mib_s(size, took)
    out["upload_cpu_s_per_gib"] = round((cpu_seconds(pid) - cpu) / (size / 2**30), 2)
    out["rss_after_upload_mib"] = vm_hwm_mib(pid)
    shown = session.get(f"{base}/v2/images/{image_id}", timeout=30).json()
    if shown["os_hash_value"] != expected or shown["size"] != size:
        raise SystemExit("the master recorded another size or SHA-512 than was sent")

    cpu = cpu_seconds(pid)
    _first, took, received, digest = timed_download(session, f"{base}/v2/images/{image_id}/file")
    if received != size or digest != expected:
        raise SystemExit("the download from the master differs from the upload")
    out["download_mib_s"] = mib_s(size, took)
    out["download_cpu_s_per_gib"] = round((cpu_seconds(pid) - cpu) / (size / 2**30), 2)
    out["rss_after_download_mib"] = vm_hwm_mib(pid)
    out["sha512"] = expected
    return out


# --- 2. the cell cache ------------------------------------------------------------------------


def ms_percentiles(samples: list[float]) -> dict[str, float]:
    return {f"p{p}_ms": round(percentile(samples, p) * 1000, 2) for p in (50, 95, 99)}


def timed_get(session: requests.Session, url: str, check: Callable[[bytes], bool]) -> float:
    started = time.perf_counter()
    response = session.get(url, timeout=60)
    took = time.perf_counter() - started
    if response.status_code != 200 or not check(response.content):
        raise SystemExit(f"GET {url} answered {response.status_code} or wrong content")
    return took


def cell_cache(cloud: Cloud, big: dict[str, Any], small_count: int, small_size: int,
               hits: int) -> dict[str, Any]:
    cache = cloud.url(9292, cell=1)
    pid = cloud.pid("cloud-images", "cell1")
    service = requests.Session()
    service.headers["X-Auth-Token"] = cloud.token("cell1-service", cell=1)
    out: dict[str, Any] = {}

    # The big image: one miss (master -> cache, verified, stored and served), then one hit.
    url = f"{cache}/v2/images/{big['image_id']}/file"
    size = big["size_mib"] * MiB
    for label in ("miss", "hit"):
        first, took, received, digest = timed_download(service, url)
        if received != size or digest != big["sha512"]:
            raise SystemExit(f"the cache's {label} differs from the upload")
        out[f"big_{label}_first_byte_s"] = round(first, 2)
        out[f"big_{label}_s"] = round(took, 2)
        out[f"big_{label}_mib_s"] = mib_s(size, took)

    # Small images, uploaded to the master, then read through the cache.
    owner = requests.Session()
    owner.headers["X-Auth-Token"] = cloud.token("demo")
    master_url = cloud.url(9292)
    small: list[tuple[str, bytes]] = []
    for i in range(small_count):
        data = os.urandom(small_size)
        image_id = create_image(owner, master_url, f"bench-small-{i}")
        owner.put(f"{master_url}/v2/images/{image_id}/file", data=data, timeout=60,
                  headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        small.append((image_id, data))

    def is_meta(image_id: str) -> Callable[[bytes], bool]:
        return lambda body: json.loads(body)["id"] == image_id

    meta_miss = [timed_get(service, f"{cache}/v2/images/{i}", is_meta(i)) for i, _ in small]
    data_miss = [timed_get(service, f"{cache}/v2/images/{i}/file", lambda b, d=d: b == d) for i, d in small]
    meta_hit, data_hit = [], []
    for n in range(hits):
        image_id, data = small[n % len(small)]
        meta_hit.append(timed_get(service, f"{cache}/v2/images/{image_id}", is_meta(image_id)))
        data_hit.append(timed_get(service, f"{cache}/v2/images/{image_id}/file", lambda b, d=data: b == d))
    out["small_images"] = small_count
    out["small_size_kib"] = small_size // 1024
    out["metadata_miss"] = ms_percentiles(meta_miss)
    out["data_miss"] = ms_percentiles(data_miss)
    out["metadata_hit"] = {"requests": hits, **ms_percentiles(meta_hit)}
    out["data_hit"] = {"requests": hits, **ms_percentiles(data_hit)}
    out["stats"] = service.get(f"{cache}/v2/cache/stats", timeout=30).json()["cache"]
    out["cache_rss_mib"] = vm_hwm_mib(pid)
    return out


# --- 3. pre-staging ---------------------------------------------------------------------------

CELL = "top!cell1"
# The baseline: each host in turn from the cell's image endpoint, no tree.
IN_TURN = {"endpoint_copies": 1, "peer_copies": 0}


def plan_rounds(hosts: int, endpoint_copies: int, peer_copies: int, max_parallel: int | None) -> int:
    """Copy times the fan-out plan takes when every copy takes as long (no CPU or network bound)."""
    plan = FanOut([f"h{i}" for i in range(hosts)], endpoint_copies, peer_copies, max_parallel)
    rounds, running = 0, plan.next_copies()
    while running:
        rounds += 1
        started: list[Copy] = []
        for copy in running:  # they all end together; what they free starts the next round
            started += plan.finished_copy(copy.target, True, serves=peer_copies > 0)
        running = started
    return rounds


def upload(session: requests.Session, base: str, name: str, size: int) -> str:
    image_id = create_image(session, base, name)
    response = session.put(f"{base}/v2/images/{image_id}/file", data=Sized(size), timeout=3600,
                           headers={"Content-Type": "application/octet-stream"})
    if response.status_code != 204:
        raise SystemExit(f"upload of {name} answered {response.status_code}: {response.text[:200]}")
    return image_id


def cache_counters(service: requests.Session, cache: str) -> dict[str, int]:
    response = service.get(f"{cache}/v2/cache/stats", timeout=30)
    response.raise_for_status()
    stats = response.json()["cache"]
    return {k: int(stats[k]) for k in ("bytes_served", "bytes_fetched", "hits", "misses")}


def prestage_once(cloud: Cloud, client: Client, service: requests.Session, cache: str, image_id: str,
                  size: int, settings: dict[str, int], hosts: int) -> dict[str, Any]:
    """Stage ``image_id`` on every host of the cell as `cloudctl image prestage` does: POST, then
    poll GET until the run ends. Returns its figures."""
    before = cache_counters(service, cache)
    cloud_cpu, busy = cloud.cpu_seconds(), machine_busy_seconds()
    started = time.perf_counter()
    run = client.prestages.create(image_id, CELL, **settings)
    run = client.prestages.wait_for(run["id"], timeout=1800, interval=0.25)
    wall = time.perf_counter() - started
    cloud_cpu, busy = cloud.cpu_seconds() - cloud_cpu, machine_busy_seconds() - busy
    after = cache_counters(service, cache)
    if run["status"] != "done" or run["hosts_done"] != hosts:
        raise SystemExit(f"pre-staging {run['id']} ended {run['status']} with {run['hosts_done']}/"
                         f"{run['hosts_total']} hosts done: {run.get('error') or run.get('failures')}")
    served = after["bytes_served"] - before["bytes_served"]
    return {
        "wall_s": round(wall, 2), "run_elapsed_s": run["elapsed"],
        "hosts_total": run["hosts_total"], "hosts_done": run["hosts_done"],
        "hosts_failed": run["hosts_failed"], "from_peers": run["from_peers"],
        "from_endpoint": run["from_endpoint"], "hosts_cached": run["hosts_cached"], "depth": run["depth"],
        "endpoint_copies": run["endpoint_copies"], "peer_copies": run["peer_copies"],
        "planned_copy_times": plan_rounds(hosts, run["endpoint_copies"], run["peer_copies"], None),
        "endpoint_served_mib": round(served / MiB, 1), "endpoint_served_copies": round(served / size, 2),
        "endpoint_hits": after["hits"] - before["hits"],
        "endpoint_misses": after["misses"] - before["misses"],
        "endpoint_fetched_mib": round((after["bytes_fetched"] - before["bytes_fetched"]) / MiB, 1),
        "mib_s_delivered": mib_s(size * run["hosts_done"], wall),
        # Cores kept busy on average: by the cloud's daemons, and by anything on this machine.
        "cloud_cores_busy": round(cloud_cpu / wall, 2), "machine_cores_busy": round(busy / wall, 2),
        "cloud_cpu_s_per_copy": round(cloud_cpu / max(1, run["hosts_done"] - run["hosts_cached"]), 3),
    }


def prestaging(cloud: Cloud, hosts: int, size: int) -> dict[str, Any]:
    """The fan-out tree (the cell's settings) against each host in turn, on two fresh images."""
    admin = requests.Session()
    admin.headers["X-Auth-Token"] = cloud.token("admin")
    master_url = cloud.url(9292)
    tree_image = upload(admin, master_url, "bench-prestage-tree", size)
    turn_image = upload(admin, master_url, "bench-prestage-in-turn", size)
    service = requests.Session()
    service.headers["X-Auth-Token"] = cloud.token("cell1-service", cell=1)
    cache = cloud.url(9292, cell=1)
    client = Client.from_cloud("admin", str(cloud.state / "clouds.yaml"))
    out: dict[str, Any] = {"hosts": hosts, "size_mib": size // MiB}
    out["tree"] = prestage_once(cloud, client, service, cache, tree_image, size, {}, hosts)
    out["in_turn"] = prestage_once(cloud, client, service, cache, turn_image, size, IN_TURN, hosts)
    out["in_turn_to_tree_wall"] = round(out["in_turn"]["wall_s"] / out["tree"]["wall_s"], 2)
    out["in_turn_to_tree_endpoint_bytes"] = round(
        out["in_turn"]["endpoint_served_mib"] / max(out["tree"]["endpoint_served_mib"], 0.1), 1)
    return out


def print_prestaging(p: dict[str, Any]) -> None:
    for label, key in (("fan-out tree", "tree"), ("each in turn", "in_turn")):
        f = p[key]
        print(f"pre-staging {p['size_mib']} MiB to {f['hosts_total']} hosts, {label} (endpoint_copies "
              f"{f['endpoint_copies']}, peer_copies {f['peer_copies']}): {f['wall_s']} s wall "
              f"(run {f['run_elapsed_s']} s), {f['hosts_done']} done, {f['hosts_failed']} failed, "
              f"{f['from_peers']} from peers, {f['from_endpoint']} from the endpoint, depth {f['depth']} "
              f"({f['planned_copy_times']} copy times in the plan); the cell's image endpoint served "
              f"{f['endpoint_served_mib']} MiB ({f['endpoint_served_copies']} copies, "
              f"{f['endpoint_misses']} miss); {f['mib_s_delivered']} MiB/s delivered; cores busy: "
              f"{f['cloud_cores_busy']} by the cloud, {f['machine_cores_busy']} in all", flush=True)
    print(f"pre-staging ratio, each in turn / tree: {p['in_turn_to_tree_wall']}x the wall time, "
          f"{p['in_turn_to_tree_endpoint_bytes']}x the endpoint's bytes", flush=True)
    tree, turn = p["tree"], p["in_turn"]
    print(f"pre-staging, what bounds it here: no copy waits on the network (loopback, {os.cpu_count()} "
          f"cores shared by every host and the endpoint); each costs CPU, {tree['cloud_cpu_s_per_copy']} "
          f"s in the tree and {turn['cloud_cpu_s_per_copy']} s in turn (SHA-512 of every byte on the "
          "host, and on the endpoint when it serves; the write; HTTP). In turn one copy is in flight "
          f"({turn['cloud_cores_busy']} cores busy); the tree runs many at once and takes what cores "
          f"there are ({tree['cloud_cores_busy']}, {tree['machine_cores_busy']} with everything else on "
          f"this machine). Where links are the bound (a copy takes one link's time), the plan's copy "
          f"times apply: "
          f"{tree['planned_copy_times']} instead of {turn['planned_copy_times']}, and the endpoint serves "
          f"{tree['from_endpoint']} copies instead of {turn['from_endpoint']}.", flush=True)


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=None,
                        help="size of the big image in MiB (default 1024, 256 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smaller image and fewer samples")
    parser.add_argument("--small", type=int, default=None,
                        help="small images read through the cache (default 20, 5 with --quick)")
    parser.add_argument("--small-kib", type=int, default=1024, help="size of each small image (KiB)")
    parser.add_argument("--hits", type=int, default=None,
                        help="cache-hit requests of each kind (default 1000, 200 with --quick)")
    parser.add_argument("--prestage-hosts", type=int, default=50,
                        help="simulated hosts of the compute cell, each pre-staged (default 50)")
    parser.add_argument("--prestage-mib", type=int, default=None,
                        help="size of each pre-staged image in MiB (default 64, 32 with --quick); "
                             "the hosts' caches take 2 x hosts x this on disk")
    parser.add_argument("--skip-prestage", action="store_true",
                        help="no pre-staging: one host, sections 1 and 2 only")
    parser.add_argument("--port-offset", type=int, default=800)
    args = parser.parse_args(argv)
    size = (args.size_mib or (256 if args.quick else 1024)) * MiB
    small = args.small or (5 if args.quick else 20)
    hits = args.hits or (200 if args.quick else 1000)
    prestage_size = (args.prestage_mib or (32 if args.quick else 64)) * MiB
    if size <= 0 or small <= 0 or hits <= 0 or args.small_kib <= 0 or prestage_size <= 0 \
            or args.prestage_hosts <= 0:
        parser.error("sizes and counts must be positive")

    cloud = Cloud(args.port_offset, 1 if args.skip_prestage else args.prestage_hosts)
    figures: dict[str, Any] = {"cores": os.cpu_count()}
    try:
        store = cloud.state / "top" / "images"
        figures["ceilings"] = c = ceilings(size, store if store.is_dir() else cloud.state)
        print(f"this machine: MD5+SHA-512 {c['md5_sha512_mib_s']} MiB/s, SHA-512 {c['sha512_mib_s']} "
              f"MiB/s (one core); disk write+fsync {c['disk_write_fsync_mib_s']} MiB/s", flush=True)

        figures["master"] = m = master(cloud, size)
        print(f"master, {m['size_mib']} MiB image: upload {m['upload_mib_s']} MiB/s "
              f"({m['upload_cpu_s_per_gib']} CPU s/GiB), download {m['download_mib_s']} MiB/s "
              f"({m['download_cpu_s_per_gib']} CPU s/GiB, verified as served); daemon peak RSS "
              f"{m['rss_before_mib']} MiB before, {m['rss_after_upload_mib']} after the upload, "
              f"{m['rss_after_download_mib']} after the download", flush=True)

        figures["cell_cache"] = k = cell_cache(cloud, m, small, args.small_kib * 1024, hits)
        print(f"cell cache, {m['size_mib']} MiB image: miss {k['big_miss_s']} s, first byte after "
              f"{k['big_miss_first_byte_s']} s ({k['big_miss_mib_s']} MiB/s: fetched, verified, stored, "
              f"served); hit {k['big_hit_s']} s ({k['big_hit_mib_s']} MiB/s)", flush=True)
        for label, key in (("metadata miss", "metadata_miss"), ("data miss", "data_miss"),
                           ("metadata hit", "metadata_hit"), ("data hit", "data_hit")):
            f = k[key]
            count = f.get("requests", k["small_images"])
            print(f"cell cache, {k['small_size_kib']} KiB images, {label:<13}: p50 {f['p50_ms']} ms  "
                  f"p95 {f['p95_ms']} ms  p99 {f['p99_ms']} ms  ({count} requests)", flush=True)
        s = k["stats"]
        print(f"cell cache counters: {s['hits']} hits, {s['misses']} misses, {s['fetches']} fetches, "
              f"{s['corrupt']} corrupt; cache daemon peak RSS {k['cache_rss_mib']} MiB", flush=True)
        figures["ratios"] = {
            "upload_to_md5_sha512": round(m["upload_mib_s"] / c["md5_sha512_mib_s"], 2),
            "download_to_sha512": round(m["download_mib_s"] / c["sha512_mib_s"], 2),
            "cache_hit_to_miss_big": round(k["big_hit_mib_s"] / k["big_miss_mib_s"], 2),
        }
        print("ratios: " + ", ".join(f"{name} {value}" for name, value in figures["ratios"].items()))
        if not args.skip_prestage:
            figures["prestage"] = prestaging(cloud, args.prestage_hosts, prestage_size)
            print_prestaging(figures["prestage"])
        print(json.dumps(figures, separators=(",", ":")))
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
