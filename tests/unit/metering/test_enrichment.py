"""Enrichment from a real cell-local Compute API (the Flask app over HTTP), never a mock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cheroot import wsgi

from api.app import create_app
from cells.db.cell_models import Instance
from cells.db.engine import Database
from cells.exception import ServiceUnavailable
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from metering.collector.metadata import CellApiClient, Metadata
from metering.collector.store import SampleStore
from tests.unit.api.conftest import KEY, KID
from tests.unit.api.test_cell_local import LARGE, SMALL, add_host, add_instance, cell_token
from tests.unit.api.test_cell_local import conf as cell_conf  # noqa: F401 - the fixture
from tests.unit.metering.rig import BASE, POLL, Rig, polls, total


@pytest.fixture
def db(sqlite_db) -> Database:
    return sqlite_db("compute")


@pytest.fixture
def api_url(cell_conf, db) -> Iterator[str]:  # noqa: F811
    verifier = TokenVerifier(cell_conf, key_source=StaticKeySource({KID: KEY.public_key()}))
    server = wsgi.Server(("127.0.0.1", 0), create_app(cell_conf, db, verifier=verifier), numthreads=4)
    server.prepare()
    import threading

    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.bind_addr[1]}"
    server.stop()


def client(url: str, roles: tuple[str, ...] = ("service",)) -> CellApiClient:
    return CellApiClient(url, lambda: cell_token(roles)["X-Auth-Token"])


def test_metadata_comes_from_the_cell_local_api_and_weights_the_rollups(db, api_url):
    add_host(db, "host-001")  # 12.5 HS06 per core
    launched = dt.datetime.fromtimestamp(BASE - 100, dt.UTC).replace(tzinfo=None)
    small = add_instance(db, launched_at=launched, host="host-001")
    large = add_instance(db, launched_at=launched, host="host-001", flavor=LARGE, vcpus=4,
                         memory_mb=8192, root_gb=40)
    store = SampleStore(db)
    changes: list[tuple[set[str], bool]] = []
    metadata = Metadata(store, client(api_url), retention=86400,
                        on_change=lambda ids, hosts: changes.append((ids, hosts)))
    learnt, hosts_changed = metadata.refresh()
    assert learnt == {small, large} and hosts_changed and changes == [({small, large}, True)]
    info = metadata.instance(large)
    assert info is not None
    assert (info.flavor_id, info.flavor_name, info.vcpus, info.ram_mb, info.disk_gb, info.host) == (
        "2", "m1.large", 4, 8192, 40, "host-001")
    assert info.launched_us == (BASE - 100) * 1_000_000
    assert metadata.hosts() == {"host-001": 12.5}
    # Nothing changed: a second read learns nothing.
    assert metadata.refresh() == (set(), False)

    # The enrichment persists: a new cache (a restarted collector) knows it before any read.
    again = Metadata(store, client("http://127.0.0.1:9"), retention=86400)
    again.load()
    assert again.instance(large) == info and again.hosts() == {"host-001": 12.5}
    with pytest.raises(ServiceUnavailable):
        again.refresh()  # nothing listens there: the cache stays as it was
    assert again.instance(small) == metadata.instance(small)

    rig = Rig(db, now=BASE + 3 * 3600, infos={}, hosts={})
    rig.roller._instance = metadata.instance
    rig.roller._hosts = metadata.hosts
    rig.feed(polls(BASE + 200, 12, large, vcpus=4, host="host-001"))
    rig.roll()
    rows = rig.rows(large)
    assert {r["flavor_name"] for r in rows} == {"m1.large"}
    assert total(rows, "hs06_hours") == pytest.approx(12.5 * total(rows, "vcpu_hours"))
    assert total(rows, "vcpu_hours") == pytest.approx(4 * (200 + 11 * POLL + 100) / 3600)


def test_a_deleted_instance_is_learnt_and_late_metadata_re_rolls_what_lacked_it(db, api_url):
    store = SampleStore(db)
    metadata = Metadata(store, client(api_url), retention=86400)
    rig = Rig(db, now=BASE + 3 * 3600, infos={}, hosts={})
    rig.roller._instance = metadata.instance
    rig.roller._hosts = metadata.hosts
    metadata.on_change = rig.roller.metadata_changed
    uuid = "2d7f9e6e-8c77-4f4b-9c65-ab4b5e3f1a23"
    rig.feed(polls(BASE + 200, 12, uuid, vcpus=1, host="host-002"))
    result = rig.roll()
    assert result.incomplete > 0
    before = rig.rows(uuid)
    assert {r["flavor_name"] for r in before} == {None} and total(before, "hs06_hours") == 0
    assert {r["project_id"] for r in before} == {"proj"}  # from the samples meanwhile
    # The instance was deleted before the collector read the API; the host is known now. (Its
    # flavor's details come from /flavors, which lists the flavors of live instances.)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    add_instance(db, host="host-002", flavor=SMALL)
    add_instance(db, uuid=uuid, host="host-002", flavor=SMALL, deleted=True, vm_state="deleted",
                 deleted_at=now, launched_at=dt.datetime.fromtimestamp(BASE, dt.UTC).replace(tzinfo=None))
    add_host(db, "host-002")
    with db.session() as session:
        session.execute(sa.update(Instance).where(Instance.uuid == uuid).values(updated_at=now))
    learnt, _hosts = metadata.refresh()
    assert uuid in learnt
    rig.roll()
    after = rig.rows(uuid)
    assert {r["flavor_name"] for r in after} == {"m1.small"}
    assert total(after, "hs06_hours") == pytest.approx(12.5 * total(after, "vcpu_hours"))
    assert total(after, "ram_gb_hours") == pytest.approx(0.5 * total(after, "seconds") / 3600)


def test_only_the_cells_service_accounts_are_served(api_url):
    with pytest.raises(ServiceUnavailable, match="403"):
        client(api_url, roles=("member",)).hosts()


def test_the_refresher_survives_an_unreachable_api_and_reads_soon_when_asked(db, api_url):
    import time

    from metering.collector.metadata import MetadataRefresher

    down = MetadataRefresher(Metadata(SampleStore(db), client("http://127.0.0.1:9"), 86400), 3600, 0.1)
    assert down.refresh_once() is False
    metadata = Metadata(SampleStore(db), client(api_url), 86400)
    refresher = MetadataRefresher(metadata, interval=3600, min_gap=0.1)
    refresher.start()
    try:
        time.sleep(0.5)  # the first read, at start: nothing to learn yet
        uuid = add_instance(db, host="host-001")
        refresher.request()  # samples of an unknown instance arrived
        deadline = time.monotonic() + 10
        while not metadata.known(uuid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metadata.known(uuid)
    finally:
        refresher.stop()
