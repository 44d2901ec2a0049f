"""cloud-images' entry point: which components a cell's configuration gives."""

from __future__ import annotations

import pytest

from cells.exception import ConfigError
from cells.service import WsgiServer
from images import cmd
from tests.unit.images.conftest import cell_config


def test_build_serves_the_image_endpoint(sqlite_db, tmp_path):
    db = sqlite_db("api")
    conf = cell_config(db.url, str(tmp_path / "store"), trusted=[
        {"issuer": "top!cell1", "jwks_url": "http://127.0.0.1:1/v3/OS-JWKS", "roles": ["service"]}])
    components = cmd.build(conf)
    assert len(components) == 1
    assert isinstance(components[0], WsgiServer) and components[0].name == "cloud-images"
    assert components[0].endpoint == conf.images


def test_build_refuses_a_cell_without_master(sqlite_db, tmp_path):
    db = sqlite_db("compute")
    conf = cell_config(db.url, str(tmp_path / "store"), name="cell1", parent="top")
    with pytest.raises(ConfigError, match="master_url"):
        cmd.build(conf)


def test_main_without_config_exits_2(monkeypatch):
    monkeypatch.delenv("CLOUD_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exc:
        cmd.main([])
    assert exc.value.code == 2
