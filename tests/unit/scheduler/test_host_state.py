"""The in-memory host states: one SELECT per refresh, reservations that survive refreshes."""

from __future__ import annotations

import sqlalchemy as sa

from cells.db.cell_models import ComputeNode
from scheduler import weighers
from scheduler.host_state import HostStateCache, Usage
from tests.unit.scheduler.helpers import StatementCounter, add_host

USAGE = Usage(1, 1024, 10)


def spread(hosts):
    return weighers.best(hosts, weighers.get_weigher("spread"), weighers.TieBreaker(1))


def bump(db, name, **values):
    with db.session() as s:
        s.execute(sa.update(ComputeNode).where(ComputeNode.host == name)
                  .values(generation=ComputeNode.generation + 1, **values))


def test_refresh_is_one_select_joining_services(sqlite_db):
    db = sqlite_db("compute")
    for i in range(20):
        add_host(db, f"h{i}", disabled=(i == 3))
    cache = HostStateCache(db.transaction)
    counter = StatementCounter(db)
    assert cache.refresh() == 20
    assert counter.statements == ["SELECT"]
    by_name = {h.host: h for h in cache.hosts()}
    assert by_name["h3"].disabled and not by_name["h4"].disabled
    assert by_name["h4"].last_seen_at is not None


def test_node_without_service_is_disabled_and_down(sqlite_db):
    db = sqlite_db("compute")
    with db.session() as s:
        s.add(ComputeNode(host="orphan", hypervisor_hostname="orphan", hypervisor_type="QEMU", vcpus=4,
                          memory_mb=4096, local_gb=40))
    cache = HostStateCache(db.transaction)
    cache.refresh()
    [h] = cache.hosts()
    assert h.disabled and h.last_seen_at is None


def test_pending_reservation_survives_a_refresh(sqlite_db):
    db = sqlite_db("compute")
    add_host(db, "h1")
    cache = HostStateCache(db.transaction)
    cache.refresh()
    host = cache.reserve(spread, USAGE, set())
    cache.refresh()  # the claim is not in the database yet
    [h] = cache.hosts()
    assert (h.memory_mb_used, h.running_vms) == (1024, 1)
    cache.release(host, USAGE)
    assert (h.memory_mb_used, h.running_vms) == (0, 0)
    cache.refresh()
    assert cache.hosts()[0].memory_mb_used == 0


def test_committed_claim_is_not_forgotten_by_an_older_read(sqlite_db):
    db = sqlite_db("compute")
    add_host(db, "h1")
    cache = HostStateCache(db.transaction)
    cache.refresh()
    host = cache.reserve(spread, USAGE, set())
    cache.commit(host, USAGE)  # the database row would now be at generation 1
    cache.refresh()  # ... but this read still sees generation 0
    assert cache.hosts()[0].memory_mb_used == 1024
    bump(db, "h1", memory_mb_used=1024)
    cache.refresh()
    assert cache.hosts()[0].memory_mb_used == 1024 and cache.hosts()[0].generation == 1


def test_newer_rows_replace_memory(sqlite_db):
    db = sqlite_db("compute")
    add_host(db, "h1")
    cache = HostStateCache(db.transaction)
    cache.refresh()
    bump(db, "h1", memory_mb_used=4096, vcpus_used=3, running_vms=2)
    cache.refresh()
    [h] = cache.hosts()
    assert (h.memory_mb_used, h.vcpus_used, h.running_vms) == (4096, 3, 2)


def test_deleted_node_disappears(sqlite_db):
    db = sqlite_db("compute")
    add_host(db, "h1")
    node_id = add_host(db, "h2")
    cache = HostStateCache(db.transaction)
    cache.refresh()
    with db.session() as s:
        s.execute(sa.delete(ComputeNode).where(ComputeNode.id == node_id))
    assert cache.refresh_host(node_id) is None
    assert [h.host for h in cache.hosts()] == ["h1"]


def test_reserve_skips_excluded_hosts(sqlite_db):
    db = sqlite_db("compute")
    ids = [add_host(db, f"h{i}") for i in range(3)]
    cache = HostStateCache(db.transaction)
    cache.refresh()
    seen = set()
    for _ in range(3):
        host = cache.reserve(spread, USAGE, seen)
        seen.add(host.id)
    assert seen == set(ids)
    assert cache.reserve(spread, USAGE, seen) is None
