"""os-image-prestages: admin only, validated, recorded, routed to the cell; progress applied by version."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from api.app import create_app
from cells import prestages
from cells.db.api_models import ImagePrestage
from cells.db.types import utcnow
from tests.unit.api.conftest import ADMIN, IMAGE, MEMBER_A, READER_A, add_capacity

URL = "/v2.1/os-image-prestages"


def body(image_id: str = IMAGE, cell: str = "top!cell1") -> dict[str, Any]:
    return {"prestage": {"image_id": image_id, "cell": cell}}


@pytest.fixture
def cells_up(db):
    add_capacity(db, "top!cell1", [{"host": "host-001", "state": "up", "status": "enabled"}])
    add_capacity(db, "top!site!cell3", [])


def progress(prestage_id: str, version: int, **fields: Any) -> dict[str, Any]:
    return {"id": prestage_id, "cell_path": "top!cell1", "version": version, "status": "running",
            "hosts_total": 4, "hosts_done": 1, "hosts_failed": 0, "hosts_cached": 0, "from_endpoint": 1,
            "from_peers": 0, "depth": 1, "failures": {}, "error": None,
            "started_at": "2030-01-01T12:00:00", "finished_at": None, **fields}


def test_only_admins_may_prestage_or_look(client, cells_up):
    for headers in (MEMBER_A, READER_A):
        assert client.post(URL, json=body(), headers=headers).status_code == 403
        assert client.get(URL, headers=headers).status_code == 403
        assert client.get(f"{URL}/x", headers=headers).status_code == 403
    assert client.get(URL).status_code == 401


def test_a_run_is_recorded_and_routed_to_the_cells_scheduler(client, cells_up, images, recorders):
    created = client.post(URL, json=body(), headers=ADMIN)
    assert created.status_code == 202, created.json
    run = created.json["prestage"]
    assert (run["status"], run["cell"], run["image_id"], run["image_name"]) == (
        "queued", "top!cell1", IMAGE, "cirros")
    assert run["hosts_total"] == 0 and run["elapsed"] is None and run["user_id"] == "u-admin"
    assert created.headers["Location"].endswith(f"{URL}/{run['id']}")
    assert images.calls[-1][2] == ADMIN["X-Auth-Token"]  # looked up as the caller
    method, _, args = recorders["cells"].next()
    (envelope,) = args["envelopes"]
    assert (method, envelope["target_path"], envelope["topic"], envelope["method"], envelope["version"]) == (
        "route", "top!cell1", "scheduler", "prestage_image", "1.1")
    assert envelope["args"] == {"prestage": {"id": run["id"], "image": {
        "id": IMAGE, "name": "cirros", "os_hash_algo": "sha512", "os_hash_value": "f" * 128,
        "size": 16 * 2**20}}}
    shown = client.get(f"{URL}/{run['id']}", headers=ADMIN)
    assert shown.status_code == 200 and shown.json["prestage"]["status"] == "queued"


def test_settings_of_the_request_are_recorded_and_routed_at_1_2(client, cells_up, images, recorders):
    created = client.post(URL, json={"prestage": {**body()["prestage"], "endpoint_copies": 1,
                                                  "peer_copies": 0}}, headers=ADMIN)
    assert created.status_code == 202, created.json
    run = created.json["prestage"]
    assert (run["endpoint_copies"], run["peer_copies"]) == (1, 0)
    _, _, args = recorders["cells"].next()
    (envelope,) = args["envelopes"]
    assert envelope["version"] == "1.2"
    assert envelope["args"]["prestage"]["settings"] == {"endpoint_copies": 1, "peer_copies": 0}
    # One setting alone; an integral number is taken as the integer it is.
    one = client.post(URL, json={"prestage": {**body()["prestage"], "endpoint_copies": 4.0}}, headers=ADMIN)
    assert one.status_code == 202, one.json
    (envelope,) = recorders["cells"].next()[2]["envelopes"]
    assert envelope["args"]["prestage"]["settings"] == {"endpoint_copies": 4}
    assert type(envelope["args"]["prestage"]["settings"]["endpoint_copies"]) is int
    assert (one.json["prestage"]["endpoint_copies"], one.json["prestage"]["peer_copies"]) == (4, None)


def test_the_settings_a_run_used_come_from_its_cells_reports(client, db, cells_up):
    plain = client.post(URL, json=body(), headers=ADMIN).json["prestage"]
    assert (plain["endpoint_copies"], plain["peer_copies"]) == (None, None)  # the cell's, not known yet
    assert prestages.apply_progress(db, progress(plain["id"], 5, endpoint_copies=2, peer_copies=1))
    shown = client.get(f"{URL}/{plain['id']}", headers=ADMIN).json["prestage"]
    assert (shown["endpoint_copies"], shown["peer_copies"]) == (2, 1)
    # A report without them (a scheduler before 1.2) leaves the settings asked for.
    asked = client.post(URL, json={"prestage": {**body()["prestage"], "peer_copies": 0}},
                        headers=ADMIN).json["prestage"]
    assert prestages.apply_progress(db, progress(asked["id"], 5))
    shown = client.get(f"{URL}/{asked['id']}", headers=ADMIN).json["prestage"]
    assert (shown["endpoint_copies"], shown["peer_copies"], shown["hosts_done"]) == (None, 0, 1)


@pytest.mark.parametrize("field,value", [
    ("endpoint_copies", 0), ("endpoint_copies", 17), ("endpoint_copies", -1), ("endpoint_copies", "2"),
    ("endpoint_copies", 1.5), ("endpoint_copies", True), ("endpoint_copies", None),
    ("peer_copies", -1), ("peer_copies", 17), ("peer_copies", "0"), ("peer_copies", 0.5),
    ("peer_copies", False), ("peer_copies", [1]),
])
def test_settings_out_of_bounds_are_400_naming_the_field(client, cells_up, recorders, field, value):
    answer = client.post(URL, json={"prestage": {**body()["prestage"], field: value}}, headers=ADMIN)
    assert answer.status_code == 400
    message = answer.json["badRequest"]["message"]
    assert message.startswith(f"Invalid input for field/attribute prestage/{field}."), message
    recorders["cells"].assert_silent()
    assert client.get(URL, headers=ADMIN).json["prestages"] == []


@pytest.mark.parametrize("fields,message", [
    ({"status": "queued"}, "is not active"),
    ({"os_hash_value": None}, "no sha512"),
    ({"size": None}, "no sha512 and size"),
])
def test_unfit_images_are_refused(client, cells_up, images, recorders, fields, message):
    images.add("22222222-2222-3333-4444-555555555555", **fields)
    answer = client.post(URL, json=body("22222222-2222-3333-4444-555555555555"), headers=ADMIN)
    assert answer.status_code == 400 and message in answer.json["badRequest"]["message"]
    recorders["cells"].assert_silent()


def test_unknown_image_and_unknown_cell_are_400(client, cells_up, recorders):
    missing = client.post(URL, json=body("99999999-2222-3333-4444-555555555555"), headers=ADMIN)
    assert missing.status_code == 400
    assert missing.json["badRequest"]["message"] == \
        "Image 99999999-2222-3333-4444-555555555555 could not be found."
    for cell in ("top!cell9", "cell1", "top"):
        answer = client.post(URL, json=body(cell=cell), headers=ADMIN)
        assert answer.status_code == 400, cell
        assert f"Cell {cell} is not a compute cell" in answer.json["badRequest"]["message"]
        assert "top!cell1" in answer.json["badRequest"]["message"]
    recorders["cells"].assert_silent()


@pytest.mark.parametrize("payload", [
    {}, {"prestage": {}}, {"prestage": {"image_id": IMAGE}}, {"prestage": {"cell": "top!cell1"}},
    {"prestage": {"image_id": IMAGE, "cell": "top!cell1", "extra": 1}},
    {"prestage": {"image_id": "../x", "cell": "top!cell1"}},
    {"prestage": {"image_id": IMAGE, "cell": "top!!cell1"}}, {"prestage": [1]}, [],
])
def test_malformed_bodies_are_400(client, cells_up, payload):
    answer = client.post(URL, json=payload, headers=ADMIN)
    assert answer.status_code == 400 and "badRequest" in answer.json
    broken = client.post(URL, data="{", headers={**ADMIN, "Content-Type": "application/json"})
    assert broken.status_code == 400


def test_an_unreachable_cell_is_a_503_and_the_run_ends_in_error(conf, db, verifier, images, cells_up):
    class Down:
        def route(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("broker down")

    client = create_app(conf, db, verifier=verifier, image_lookup=images, scheduler_api=Down(),
                        cells_api=Down()).test_client()
    answer = client.post(URL, json=body(), headers=ADMIN)
    assert answer.status_code == 503 and "cannot be reached" in answer.json["serviceUnavailable"]["message"]
    (run,) = client.get(URL, headers=ADMIN).json["prestages"]
    assert (run["status"], run["error"]) == ("error", "the cell could not be reached")


def test_unknown_run_is_404(client):
    assert client.get(f"{URL}/11111111-0000-0000-0000-000000000000", headers=ADMIN).status_code == 404
    assert client.get(f"{URL}/{'x' * 300}", headers=ADMIN).status_code == 404


def test_list_is_newest_first_and_pages_with_markers(client, db, cells_up):
    ids = [client.post(URL, json=body(), headers=ADMIN).json["prestage"]["id"] for _ in range(3)]
    with db.session() as session:  # distinct creation times, oldest first
        for n, prestage_id in enumerate(ids):
            session.execute(sa.update(ImagePrestage).where(ImagePrestage.id == prestage_id)
                            .values(created_at=dt.datetime(2030, 1, 1, 12, 0, n)))
    first = client.get(f"{URL}?limit=2", headers=ADMIN).json
    assert [p["id"] for p in first["prestages"]] == ids[::-1][:2]
    assert "marker=" in first["prestages_links"][0]["href"]
    rest = client.get(f"{URL}?limit=2&marker={ids[1]}", headers=ADMIN).json
    assert [p["id"] for p in rest["prestages"]] == [ids[0]] and "prestages_links" not in rest
    assert client.get(f"{URL}?marker=nope", headers=ADMIN).status_code == 400
    assert client.get(f"{URL}?limit=x", headers=ADMIN).status_code == 400


def test_progress_is_applied_only_when_newer_and_from_the_runs_cell(client, db, cells_up):
    prestage_id = client.post(URL, json=body(), headers=ADMIN).json["prestage"]["id"]
    assert prestages.apply_progress(db, progress(prestage_id, 5, hosts_done=2))
    assert not prestages.apply_progress(db, progress(prestage_id, 4, hosts_done=1))  # late
    assert not prestages.apply_progress(db, progress(prestage_id, 9) | {"cell_path": "top!cell2"})
    assert not prestages.apply_progress(db, progress(prestage_id, 9, status="bogus"))
    shown = client.get(f"{URL}/{prestage_id}", headers=ADMIN).json["prestage"]
    assert (shown["status"], shown["hosts_done"], shown["started_at"]) == ("running", 2,
                                                                           "2030-01-01T12:00:00Z")
    assert prestages.apply_progress(db, progress(
        prestage_id, 6, status="done", hosts_done=3, hosts_failed=1, failures={"host-004": "x" * 999},
        finished_at="2030-01-01T12:00:42"))
    shown = client.get(f"{URL}/{prestage_id}", headers=ADMIN).json["prestage"]
    assert (shown["status"], shown["hosts_failed"], shown["elapsed"]) == ("done", 1, 42.0)
    assert len(shown["failures"]["host-004"]) == prestages.MAX_REASON


def test_runs_without_news_expire_to_error(client, db, cells_up):
    quiet, fresh = (client.post(URL, json=body(), headers=ADMIN).json["prestage"]["id"] for _ in range(2))
    with db.session() as session:
        session.execute(sa.update(ImagePrestage).where(ImagePrestage.id == quiet)
                        .values(updated_at=utcnow() - dt.timedelta(seconds=700)))
    assert prestages.expire_stale(db, 600) == 1
    shown = client.get(f"{URL}/{quiet}", headers=ADMIN).json["prestage"]
    assert shown["status"] == "error" and "no progress from the cell for 600 s" in shown["error"]
    assert client.get(f"{URL}/{fresh}", headers=ADMIN).json["prestage"]["status"] == "queued"
