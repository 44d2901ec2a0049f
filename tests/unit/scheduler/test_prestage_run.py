"""A compute cell's pre-staging run (scheduler.prestage) against fake agents and a fake cells daemon.

The agents answer as compute.prestage_image does; the run decides who copies
from whom, reports the hosts that are down or fail, and sends versioned
progress up to the API cell.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest

from cells import rpc
from cells.context import RequestContext
from cells.db.types import utcnow
from scheduler.host_state import HostState
from scheduler.manager import SchedulerManager
from scheduler.prestage import Prestager, Run
from tests.unit.scheduler.helpers import cell_conf, host

IMAGE = {"id": "img-1", "name": "cirros", "os_hash_algo": "sha512", "os_hash_value": "ab" * 64,
         "size": 4096}
Answer = Callable[[str, dict[str, Any] | None], dict[str, Any]]


def ok(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
    return {"host": host_name, "ok": True, "source": "peer" if source else "endpoint",
            "peer": source["host"] if source else None, "fallback": None, "bytes": 4096,
            "seconds": 0.1, "serve_url": f"http://peers.test/hosts/{host_name}", "error": None}


class Agents:
    """compute.prestage_image of every host: ``answers`` per host, else ``ok``."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def prestage_image(self, ctxt: RequestContext, host_name: str, image: dict[str, Any],
                       source: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        assert image == {k: IMAGE[k] for k in ("id", "os_hash_algo", "os_hash_value", "size")}
        with self.lock:
            self.calls.append((host_name, source["host"] if source else None))
        if source is not None:
            assert source["url"] == f"http://peers.test/hosts/{source['host']}"
        return self.answers.get(host_name, ok)(host_name, source)


class Cells:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.roots: set[str] = set()
        self.cond = threading.Condition()

    def prestage_progress(self, ctxt: RequestContext, root_path: str, progress: dict[str, Any]) -> None:
        with self.cond:
            self.roots.add(root_path)
            self.reports.append(progress)
            self.cond.notify_all()

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        with self.cond:
            assert self.cond.wait_for(lambda: any(match(r) for r in self.reports), timeout), self.reports
            return next(r for r in self.reports if match(r))


def up_hosts(count: int) -> list[HostState]:
    return [host(i, host=f"host-{i:03d}") for i in range(1, count + 1)]


def run(hosts: list[HostState], agents: Agents, cells: Cells, **settings: Any) -> dict[str, Any]:
    conf = cell_conf(prestage={"endpoint_copies": 2, "peer_copies": 1, **settings})
    the_run = Run(conf, conf.prestage, agents, cells, RequestContext.admin(), {"id": "p-1", "image": IMAGE})
    return the_run.execute(hosts, utcnow())


def test_every_host_up_gets_the_image_and_the_down_ones_are_reported():
    now = utcnow()
    hosts = up_hosts(6) + [host(7, host="host-007", last_seen_at=now - dt.timedelta(minutes=5)),
                           host(8, host="host-008", last_seen_at=None)]
    agents, cells = Agents(), Cells()
    final = run(hosts, agents, cells)
    assert sorted(h for h, _ in agents.calls) == [f"host-{i:03d}" for i in range(1, 7)]
    # The first copies come from the endpoint, in host order; later ones from hosts done.
    assert agents.calls[:2] == [("host-001", None), ("host-002", None)]
    assert any(source for _, source in agents.calls)
    assert final["status"] == "done" and final["cell_path"] == "top!cell1" and final["error"] is None
    assert (final["hosts_total"], final["hosts_done"], final["hosts_failed"]) == (8, 6, 2)
    assert final["from_peers"] + final["from_endpoint"] == 6 and final["from_peers"] >= 2
    assert final["failures"]["host-007"].startswith("host is down: no heartbeat for 300")
    assert "never reported" in final["failures"]["host-008"]
    assert final["depth"] >= 2 and final["finished_at"] >= final["started_at"]
    assert cells.roots == {"top"}
    assert cells.reports[0]["status"] == "running" and cells.reports[0]["hosts_total"] == 8
    versions = [r["version"] for r in cells.reports]
    assert versions == sorted(set(versions)) and cells.reports[-1] == final


def test_a_peer_that_fails_is_used_no_more_and_its_target_falls_back():
    def via_bad_peer(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        answer = ok(host_name, None)
        if source and source["host"] == "host-001":
            answer["fallback"] = "peer host-001: image img-1: sha512 of the data does not match"
        return answer

    agents = Agents({f"host-{i:03d}": via_bad_peer for i in range(2, 11)})
    final = run(up_hosts(10), agents, Cells(), endpoint_copies=1)
    served_by_001 = [h for h, source in agents.calls if source == "host-001"]
    assert len(served_by_001) == 1  # once, then retired
    assert final["hosts_done"] == 10 and final["hosts_failed"] == 0


def test_a_host_that_fails_or_does_not_answer_is_reported_and_the_rest_go_on():
    def timeout(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        raise rpc.MessagingTimeout("no reply")

    def disk_full(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        return {"host": host_name, "ok": False, "error": "OSError: [Errno 28] No space left on device",
                "fallback": None, "serve_url": None}

    agents = Agents({"host-002": timeout, "host-003": disk_full})
    final = run(up_hosts(5), agents, Cells(), copy_timeout=30)
    assert final["status"] == "done" and (final["hosts_done"], final["hosts_failed"]) == (3, 2)
    assert final["failures"] == {"host-002": "no answer from the host's agent in 30 s",
                                 "host-003": "OSError: [Errno 28] No space left on device"}
    # Failed hosts never serve.
    assert not [h for h, source in agents.calls if source in ("host-002", "host-003")]


def test_a_transport_failure_is_reported_without_its_message():
    def broken(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        raise ConnectionError("cannot reach rabbit://cloud:s3cret@broker:5672/cell1")

    final = run(up_hosts(2), Agents({"host-002": broken}), Cells())
    assert final["failures"] == {"host-002": "the host's agent could not be called (ConnectionError)"}


def test_hosts_holding_the_image_already_are_done_at_once():
    def cached(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        return ok(host_name, None) | {"source": "cached", "bytes": 0}

    final = run(up_hosts(3), Agents({"host-001": cached}), Cells())
    assert (final["hosts_cached"], final["hosts_done"]) == (1, 3)


def test_a_cell_without_hosts_ends_in_error():
    final = run([], Agents(), Cells())
    assert final["status"] == "error" and "has no hosts" in final["error"]


def test_progress_goes_up_while_copies_are_in_flight():
    release = threading.Event()

    def slow(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        assert release.wait(10)
        return ok(host_name, source)

    agents, cells = Agents({"host-004": slow}), Cells()
    done = threading.Thread(target=run, args=(up_hosts(4), agents, cells),
                            kwargs={"progress_interval": 0.05})
    done.start()
    seen = cells.wait_for(lambda r: r["status"] == "running" and r["hosts_done"] == 3)
    release.set()
    done.join(10)
    assert seen["hosts_failed"] == 0 and cells.reports[-1]["status"] == "done"


def test_one_run_per_id_at_a_time():
    release = threading.Event()

    def slow(host_name: str, source: dict[str, Any] | None) -> dict[str, Any]:
        assert release.wait(10)
        return ok(host_name, source)

    class Cache:
        def refresh(self) -> int:
            return 1

        def hosts(self) -> list[HostState]:
            return up_hosts(1)

    cells = Cells()
    prestager = Prestager(cell_conf(), Cache(), Agents({"host-001": slow}), cells)  # type: ignore[arg-type]
    ctxt = RequestContext.admin()
    assert prestager.start(ctxt, {"id": "p-1", "image": IMAGE})
    assert not prestager.start(ctxt, {"id": "p-1", "image": IMAGE})
    release.set()
    cells.wait_for(lambda r: r["status"] == "done")


@pytest.mark.parametrize("request_body", [{}, {"id": "p"}, {"id": "p", "image": {}}, ["x"]])
def test_malformed_or_misrouted_requests_are_dropped(request_body):
    class Never:
        def start(self, *args: Any) -> bool:
            raise AssertionError("started")

    class ApiScheduler:
        pass

    SchedulerManager(cell_conf(), ApiScheduler(), Never()).prestage_image(  # type: ignore[arg-type]
        RequestContext.admin(), request_body)
    SchedulerManager(cell_conf(cell_type="api"), ApiScheduler()).prestage_image(  # type: ignore[arg-type]
        RequestContext.admin(), {"id": "p", "image": IMAGE})


class Hosts:
    """The host state cache of a cell whose hosts are all up."""

    def __init__(self, count: int) -> None:
        self.count = count

    def refresh(self) -> int:
        return self.count

    def hosts(self) -> list[HostState]:
        return up_hosts(self.count)


class Overlaps(Agents):
    """Agents that record how many copies were in flight at once, and from which source."""

    def __init__(self) -> None:
        super().__init__()
        self.flying = 0
        self.most = 0

    def prestage_image(self, ctxt: RequestContext, host_name: str, image: dict[str, Any],
                       source: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        with self.lock:
            self.flying += 1
            self.most = max(self.most, self.flying)
        try:
            # Let any copy that may start alongside this one start first.
            threading.Event().wait(0.01)
            return super().prestage_image(ctxt, host_name, image, source, timeout)
        finally:
            with self.lock:
                self.flying -= 1


def prestager(hosts: int, agents: Agents, cells: Cells) -> Prestager:
    conf = cell_conf(prestage={"endpoint_copies": 2, "peer_copies": 1})
    return Prestager(conf, Hosts(hosts), agents, cells)  # type: ignore[arg-type]


def test_a_request_without_settings_uses_the_cells_and_reports_them():
    final = prestager(8, Agents(), Cells()).run(RequestContext.admin(), {"id": "p-1", "image": IMAGE})
    assert (final["endpoint_copies"], final["peer_copies"]) == (2, 1)
    assert final["from_peers"] > 0 and final["depth"] >= 2


def test_settings_of_the_request_override_the_cells_for_that_run():
    agents, cells = Overlaps(), Cells()
    final = prestager(6, agents, cells).run(RequestContext.admin(), {
        "id": "p-1", "image": IMAGE, "settings": {"endpoint_copies": 1, "peer_copies": 0}})
    # Each host in turn, from the endpoint: no tree, one copy at a time.
    assert [source for _, source in agents.calls] == [None] * 6 and agents.most == 1
    assert (final["hosts_done"], final["from_endpoint"], final["from_peers"], final["depth"]) == (6, 6, 0, 1)
    assert (final["endpoint_copies"], final["peer_copies"]) == (1, 0)
    assert all((r["endpoint_copies"], r["peer_copies"]) == (1, 0) for r in cells.reports)


def test_one_setting_overrides_only_itself():
    agents = Agents()
    final = prestager(6, agents, Cells()).run(RequestContext.admin(), {
        "id": "p-1", "image": IMAGE, "settings": {"peer_copies": 0}})
    assert (final["endpoint_copies"], final["peer_copies"]) == (2, 0)
    assert final["from_peers"] == 0 and agents.calls[:2] == [("host-001", None), ("host-002", None)]


@pytest.mark.parametrize("settings,message", [
    ({"endpoint_copies": 0}, "endpoint_copies must be an integer from 1 to 16"),
    ({"endpoint_copies": 17}, "endpoint_copies must be an integer from 1 to 16"),
    ({"peer_copies": -1}, "peer_copies must be an integer from 0 to 16"),
    ({"peer_copies": "2"}, "peer_copies must be an integer from 0 to 16"),
    ({"peer_copies": True}, "peer_copies must be an integer from 0 to 16"),
    ({"endpoint_copies": 1.5}, "endpoint_copies must be an integer from 1 to 16"),
    ({"max_parallel": 1}, "unknown setting 'max_parallel'"),
    (["endpoint_copies"], "settings is not a mapping"),
])
def test_settings_out_of_bounds_end_the_run_in_error_copying_nothing(settings, message):
    agents, cells = Agents(), Cells()
    final = prestager(3, agents, cells).run(RequestContext.admin(), {
        "id": "p-1", "image": IMAGE, "settings": settings})
    assert agents.calls == []
    assert final["status"] == "error" and final["error"] == f"refused: {message}"
    assert final["finished_at"] is not None and cells.reports == [final]
