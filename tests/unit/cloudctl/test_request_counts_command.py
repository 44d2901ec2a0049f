"""`cloudctl admin request-counts` against a tiny HTTP server serving each daemon's counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudctl import shell
from tests.unit.cloudctl.tinyapi import TinyApi, serving, use_cloud

PATHS = {"compute": "/compute/request-counts", "image": "/image/request-counts",
         "identity": "/request-counts"}


def counts(service: str, *callers: tuple[str, str, int], anonymous: int = 0, refused: int = 0,
           others: int = 0) -> dict[str, Any]:
    return {"service": service, "since": "2026-11-21T20:00:00Z", "anonymous": anonymous, "refused": refused,
            "others": others,
            "callers": [{"issuer": "top", "user_id": f"{name}-id", "user_name": name, "project_id": "p1",
                         "requests": n} for name, _, n in callers]}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyApi]:
    with serving() as served:
        use_cloud(served, tmp_path, monkeypatch)
        served.documents[("GET", PATHS["compute"])] = (200, counts(
            "cloud-api", ("alice", "", 3), ("bob", "", 7), anonymous=2, refused=1))
        served.documents[("GET", PATHS["image"])] = (200, counts("cloud-images", ("alice", "", 1), others=4))
        served.documents[("GET", PATHS["identity"])] = (200, counts("cloud-identity", ("bob", "", 2)))
        yield served


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _asked(api: TinyApi) -> list[str]:
    return [path for method, path, _, token in api.requests
            if path.endswith("/request-counts") and token == api.token]


def test_all_daemons_by_default(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "admin", "request-counts", "-f", "json")
    assert code == 0, err
    assert sorted(_asked(api)) == sorted(PATHS.values())
    rows = json.loads(out)
    compute = [(r["caller"], r["user_name"], r["requests"]) for r in rows if r["service"] == "cloud-api"]
    assert compute == [("user", "bob", 7), ("user", "alice", 3), ("anonymous", None, 2), ("refused", None, 1)]
    image = [(r["caller"], r["requests"]) for r in rows if r["service"] == "cloud-images"]
    assert image == [("user", 1), ("anonymous", 0), ("refused", 0), ("others", 4)]
    assert {r["endpoint"] for r in rows if r["service"] == "cloud-identity"} == {api.base}


def test_one_service_as_a_table(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "admin", "request-counts", "--service", "compute")
    assert code == 0, err
    assert _asked(api) == [PATHS["compute"]]
    lines = out.splitlines()
    assert lines[0].split() == ["Service", "Caller", "Issuer", "User", "User", "ID", "Project", "ID",
                                "Requests"]
    assert lines[2].split() == ["cloud-api", "user", "top", "bob", "bob-id", "p1", "7"]
    assert lines[4].split() == ["cloud-api", "anonymous", "2"]


def test_refusal_of_one_daemon_is_reported_and_the_others_shown(api: TinyApi,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", PATHS["image"])] = (403, {"message": "Policy doesn't allow GET /request-counts "
                                                    "to be performed.", "code": "403 Forbidden"})
    code, out, err = _run(capsys, "admin", "request-counts", "-f", "json")
    assert code == 1
    assert "image: Policy doesn't allow GET /request-counts to be performed. (HTTP 403)" in err
    assert {r["service"] for r in json.loads(out)} == {"cloud-api", "cloud-identity"}


def test_refusal_of_the_only_daemon_asked_exits_1(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", PATHS["identity"])] = (403, {"error": {
        "code": 403, "message": "Policy doesn't allow GET /request-counts to be performed."}})
    code, out, err = _run(capsys, "admin", "request-counts", "--service", "identity")
    assert code == 1 and out == ""
    assert "error: Policy doesn't allow GET /request-counts to be performed. (HTTP 403)" in err


def test_an_answer_of_another_shape_exits_1(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", PATHS["compute"])] = (200, {"callers": "many"})
    code, _, err = _run(capsys, "admin", "request-counts", "--service", "compute")
    assert code == 1 and "did not answer with request counts" in err


def test_unknown_service_is_a_usage_error(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "admin", "request-counts", "--service", "metering")
    assert code == 2 and "invalid choice: 'metering'" in err
    assert _asked(api) == []
