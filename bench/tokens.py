"""Token benchmark: offline validation, issue through the identity API, the password KDF, peak RSS.

1. Offline validation with ``TokenVerifier`` (one verifier shared by all
   threads): tokens seen before (answered from its verified-token cache) and
   first-seen tokens (a fresh verifier over a pool of distinct tokens), from
   1 thread and from ``--threads`` threads; the verifiers hold 1000
   revocation events (none matching) and check every token against them.
2. Token issue through the real identity API: the ``cloud-identity`` daemon
   in its own process pinned to core 0, on a temporary SQLite database
   bootstrapped with ``identity.bootstrap``; ``--threads`` clients on the
   other cores POST /v3/auth/tokens for a bounded time with the password
   method (at the configured hash cost and at the minimum cost 10, so the
   share of the KDF shows) and with the token (rescoping) method. The
   daemon's CPU time per issued token gives the rate one core sustains.
3. The KDF alone (``identity.passwords``) at the default cost and at cost 10.
4. Peak RSS of this process (verifiers, clients) and of the daemon.

Every figure is bounded by time; the whole run takes about 30 s. Ends with
one JSON line holding all figures.

    .venv/bin/python bench/tokens.py
    .venv/bin/python bench/tokens.py --seconds 1 --issue-seconds 3 --threads 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import yaml
from stats import percentile

from cells import config as config_mod
from cells.config import CellConfig
from cells.db import migrate
from cells.db.engine import Database
from identity import passwords
from identity.bootstrap import bootstrap
from identity.key_sources import StaticKeySource
from identity.keys import KeyRepository, RepositoryKeySource
from identity.middleware import TokenVerifier
from identity.revocation_feed import RevocationFeed, iso
from identity.tokens import ProjectRef, Subject, issue

MAX_POOL = 60_000  # distinct tokens signed up front for the first-seen figures
CACHED_TOKENS = 64  # distinct tokens cycled through in the seen-before figures
KDF_MAX_ROUNDS = 50
REVOCATION_EVENTS = 1000  # revocation events held by the verifiers, none matching


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_conf(workdir: str, port: int, cost: int | None) -> CellConfig:
    """An API cell whose identity listens on ``port``; ``cost`` None keeps the configured default."""
    return config_mod.parse(conf_data(workdir, port, cost), "bench")


def conf_data(workdir: str, port: int, cost: int | None) -> dict[str, Any]:
    """The YAML content of that cell's configuration."""
    identity: dict[str, Any] = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}",
                                "key_repository": os.path.join(workdir, "keys"), "threads": 16}
    if cost is not None:
        identity["password_hash_cost"] = cost
    data = {
        "cell": {"name": "top", "type": "api"},
        "database": {"url": f"sqlite:///{workdir}/identity.db"},
        "broker": {"url": "fake:///top"},
        "state_dir": workdir,
        "auth": {"identity_url": f"http://127.0.0.1:{port}"},
        "identity": identity,
        "logging": {"level": "WARNING"},
    }
    return data


def run_threads(threads: int, seconds: float, work: Callable[[int, float], int]) -> tuple[int, float]:
    """Run ``work(index, deadline)`` in ``threads`` threads started together; returns (total, elapsed)."""
    counts = [0] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def body(index: int) -> None:
        barrier.wait()
        try:
            counts[index] = work(index, time.monotonic() + seconds)
        except BaseException as exc:  # reported after the join: a figure with errors is void
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.monotonic()
    for t in pool:
        t.join(seconds + 60)
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"benchmark thread failed: {errors[0]!r}") from errors[0]
    return sum(counts), elapsed


# --- 1. offline validation ---------------------------------------------------------


class HeldEvents(RevocationFeed):
    """A revocation feed holding ``count`` events that match none of the benchmark's tokens,
    so every verification pays for a real revocation check against a list of that size."""

    source = "benchmark"

    def __init__(self, count: int) -> None:
        super().__init__("top", interval=3600.0)
        now = time.time()
        self._events = [{"id": i + 1, "user_id": f"revoked-user-{i}", "issued_before": iso(now),
                         "revoked_at": iso(now)} for i in range(count)]
        self.refresh()

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        return self._events, True


def validation(workdir: str, threads: int, seconds: float) -> dict[str, Any]:
    conf = make_conf(workdir, free_port(), None)
    keys = KeyRepository(os.path.join(workdir, "verify-keys"))
    kid, private = keys.signing_key()
    source = StaticKeySource({kid: private.public_key()})
    feed = HeldEvents(REVOCATION_EVENTS)
    subject = Subject(user_id="u" * 32, user_name="bench", domain_id="default", domain_name="Default",
                      project=ProjectRef("p" * 32, "bench", "default", "Default"),
                      roles=(("r" * 32, "member"),))

    # Distinct tokens (each has its own jti and audit id), signed for at most ``seconds``.
    pool: list[str] = []
    started = time.monotonic()
    deadline = started + seconds
    while len(pool) < MAX_POOL and (len(pool) % 256 or time.monotonic() < deadline):
        pool.append(issue(conf, keys, subject).token)
    sign_rate = len(pool) / (time.monotonic() - started)
    if len(set(pool)) != len(pool):
        raise RuntimeError("token pool holds duplicates")

    def measure_seen(n: int) -> tuple[float, int]:
        verifier = TokenVerifier(conf, source, revocations={"top": feed})
        seen = pool[:CACHED_TOKENS]
        for token in seen:
            verifier.verify(token)  # into the cache

        def work(index: int, until: float) -> int:
            done = 0
            while time.monotonic() < until:
                for token in seen:
                    if verifier.verify(token).user_id != subject.user_id:
                        raise RuntimeError("wrong subject")
                done += len(seen)
            return done

        total, elapsed = run_threads(n, seconds, work)
        return total / elapsed, total

    def measure_first(n: int) -> tuple[float, int]:
        # Empty cache: every token is verified in full.
        verifier = TokenVerifier(conf, source, revocations={"top": feed})

        def work(index: int, until: float) -> int:
            done = 0
            for token in pool[index::n]:  # disjoint shares: no token is seen twice
                if done % 32 == 0 and time.monotonic() >= until:
                    break
                if verifier.verify(token).user_id != subject.user_id:
                    raise RuntimeError("wrong subject")
                done += 1
            return done

        total, elapsed = run_threads(n, seconds, work)
        return total / elapsed, total

    out: dict[str, Any] = {"sign_per_s": round(sign_rate), "pool": len(pool)}
    for label, fn in (("seen", measure_seen), ("first_seen", measure_first)):
        for n in (1, threads):
            rate, total = fn(n)
            out[f"{label}_{n}t_per_s"] = round(rate)
            out[f"{label}_{n}t_count"] = total
    return out


# --- 2. issue through the API -------------------------------------------------------


def password_body(user: str, password: str, project: str) -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }}


def token_body(token: str, project: str) -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }}


def drive(url: str, body: Callable[[], dict[str, Any]], threads: int,
          seconds: float) -> dict[str, Any]:
    """POST ``body()`` to ``url`` from ``threads`` clients for ``seconds``; 201s count as issued."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[dict[int, int]] = [{} for _ in range(threads)]

    def work(index: int, until: float) -> int:
        ok = 0
        with requests.Session() as session:
            while time.monotonic() < until:
                t0 = time.perf_counter()
                response = session.post(url, json=body(), timeout=30)
                took = time.perf_counter() - t0
                if response.status_code == 201 and response.headers.get("X-Subject-Token"):
                    ok += 1
                    latencies[index].append(took)
                else:
                    failures[index][response.status_code] = failures[index].get(response.status_code, 0) + 1
        return ok

    total, elapsed = run_threads(threads, seconds, work)
    flat = [x for per in latencies for x in per]
    errors: dict[str, int] = {}
    for per in failures:
        for code, count in per.items():
            errors[str(code)] = errors.get(str(code), 0) + count
    return {"issued": total, "per_s": round(total / elapsed, 1),
            "p50_ms": round(percentile(flat, 50) * 1000, 1),
            "p99_ms": round(percentile(flat, 99) * 1000, 1), "errors": errors}


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _start_daemon(workdir: str, conf_data: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    """Run the real cloud-identity daemon, pinned to core 0 (clients get the other cores)."""
    path = os.path.join(workdir, "identity.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(conf_data, f)
    daemon = os.path.join(os.path.dirname(sys.executable), "cloud-identity")
    proc = subprocess.Popen([daemon, "--config", path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(workdir, "identity.log"), "wb"),
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v3", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("cloud-identity did not start; see identity.log")


def _measured(pid: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``run`` and add the daemon's CPU per issued token and the rate one core sustains."""
    before = _cpu_seconds(pid)
    out = run()
    cpu = _cpu_seconds(pid) - before
    if out["issued"]:
        per = cpu / out["issued"]
        out["server_cpu_ms"] = round(per * 1000, 3)
        out["per_core_s"] = round(1 / per, 1) if per > 0 else None
    return out


def issue_through_api(workdir: str, cost: int | None, threads: int, seconds: float,
                      probe_token_method: bool) -> dict[str, Any]:
    """Issue tokens through a real cloud-identity daemon on one core; clients run on the others."""
    os.makedirs(workdir, exist_ok=True)
    port = free_port()
    data = conf_data(workdir, port, cost)
    conf = config_mod.parse(data, "bench")
    migrate.upgrade(conf.database_url, "api")
    db = Database(conf.database_url)
    demo_password = secrets.token_urlsafe(12)
    bootstrap(conf, db, secrets.token_urlsafe(12), demo_password, {"top-service": secrets.token_urlsafe(12)})
    db.engine.dispose()
    proc = _start_daemon(workdir, data, port)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 1)))
    url = f"http://127.0.0.1:{port}/v3/auth/tokens"
    try:
        first = requests.post(url, json=password_body("demo", demo_password, "demo"), timeout=30)
        token = first.headers.get("X-Subject-Token")
        if first.status_code != 201 or not token:
            raise RuntimeError(f"password authentication answered {first.status_code}: {first.text[:200]}")
        # The issued token must verify offline against the service's own keys.
        keys = RepositoryKeySource(KeyRepository(conf.key_repository))
        verifier = TokenVerifier(conf, keys, revocations={"top": HeldEvents(0)})
        if verifier.verify(token).project_name != "demo":
            raise RuntimeError("issued token is not scoped to the demo project")
        body = password_body("demo", demo_password, "demo")
        out = {"password_hash_cost": conf.password_hash_cost,
               **_measured(proc.pid, lambda: drive(url, lambda: body, threads, seconds))}
        if probe_token_method:
            probe = requests.post(url, json=token_body(token, "demo"), timeout=30)
            if probe.status_code != 201:
                raise RuntimeError(f"token method answered {probe.status_code}: {probe.text[:200]}")
            rescope = token_body(token, "demo")
            out["token_method"] = _measured(proc.pid, lambda: drive(url, lambda: rescope, threads, seconds))
        out["server_peak_rss_mib"] = _rss_mib(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


# --- 3. the KDF alone ---------------------------------------------------------------


def kdf(cost: int, seconds: float) -> dict[str, Any]:
    encoded = passwords.hash_password("bench-password", cost)
    rounds, started = 0, time.perf_counter()
    while rounds < KDF_MAX_ROUNDS and (rounds < 2 or time.perf_counter() - started < seconds):
        if not passwords.verify_password("bench-password", encoded):
            raise RuntimeError("KDF verification failed")
        rounds += 1
    each = (time.perf_counter() - started) / rounds
    return {"cost": cost, "ms": round(each * 1000, 2), "per_s_per_core": round(1 / each, 1),
            "rounds": rounds}


# --- main -------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8, help="threads / clients (default 8)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per validation figure")
    parser.add_argument("--issue-seconds", type=float, default=5.0, help="seconds per issue figure")
    parser.add_argument("--kdf-seconds", type=float, default=1.5, help="seconds per KDF figure")
    args = parser.parse_args(argv)
    if args.threads < 1 or min(args.seconds, args.issue_seconds, args.kdf_seconds) <= 0:
        parser.error("threads and seconds must be positive")
    n = args.threads
    figures: dict[str, Any] = {"cpu_count": os.cpu_count(), "threads": n}
    print(f"cores: {os.cpu_count()}   threads: {n}")

    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        v = validation(os.path.join(tmp, "verify"), n, args.seconds)
        v["peak_rss_mib_after"] = peak_rss_mib()
        figures["validate"] = v
        print(f"validate seen-before : 1t {v['seen_1t_per_s']:>8}/s   {n}t {v[f'seen_{n}t_per_s']:>8}/s")
        print(f"validate first-seen  : 1t {v['first_seen_1t_per_s']:>8}/s   "
              f"{n}t {v[f'first_seen_{n}t_per_s']:>8}/s   (pool {v['pool']}, signed {v['sign_per_s']}/s)")

        default_conf = make_conf(tmp, free_port(), None)
        costs: list[int | None] = [None]
        if default_conf.password_hash_cost != passwords.MIN_COST:
            costs.append(passwords.MIN_COST)
        figures["issue"] = []
        for i, cost in enumerate(costs):
            run = issue_through_api(os.path.join(tmp, f"issue-{i}"), cost, n, args.issue_seconds,
                                    probe_token_method=i == 0)
            run["peak_rss_mib_after"] = peak_rss_mib()
            figures["issue"].append(run)
            label = "configured" if cost is None else "minimum"
            print(f"issue password ({label} cost {run['password_hash_cost']}): {run['per_s']}/s  "
                  f"p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms  ({run['issued']} issued, "
                  f"{n} clients, errors {run['errors'] or 'none'}; server CPU {run.get('server_cpu_ms')} "
                  f"ms/token, peak RSS {run['server_peak_rss_mib']} MiB)")
            method = run.get("token_method")
            if method and method.get("implemented") is False:
                print(f"issue token method   : not implemented "
                      f"(HTTP {method['status']}: {method['message']})")
            elif method:
                print(f"issue token method   : {method['per_s']}/s  p50 {method['p50_ms']} ms  "
                      f"p99 {method['p99_ms']} ms  (server CPU {method.get('server_cpu_ms')} ms/token "
                      f"= {method.get('per_core_s')}/s per core; errors {method['errors'] or 'none'})")

    default_cost = default_conf.password_hash_cost
    figures["kdf"] = [kdf(c, args.kdf_seconds) for c in dict.fromkeys((default_cost, passwords.MIN_COST))]
    for k in figures["kdf"]:
        print(f"kdf scrypt cost {k['cost']:>2}   : {k['ms']} ms/verify = {k['per_s_per_core']}/s per core")

    figures["peak_rss_mib"] = peak_rss_mib()
    phases = [v["peak_rss_mib_after"], *(r["peak_rss_mib_after"] for r in figures["issue"])]
    print(f"peak RSS             : {figures['peak_rss_mib']} MiB (clients and server in one process; "
          f"peak after validation, each issue run: {', '.join(map(str, phases))})")
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
