"""bootstrap() and the cloud-identity command line."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from cells.db.engine import Database
from cells.db.identity_models import Assignment, Project, Role, User
from cells.exception import ConfigError
from identity import cmd, passwords
from identity.app import create_app
from identity.bootstrap import bootstrap
from tests.unit.identity.conftest import issue


def _counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (Assignment, Project, Role, User)}


def test_bootstrap_is_idempotent_and_updates_passwords(conf, db):
    first = bootstrap(conf, db, "a1", "d1", {"top-service": "s1"})
    counts = _counts(db)
    assert counts == {"projects": 3, "roles": 4, "assignments": 3, "users": 3}
    second = bootstrap(conf, db, "a2", "d2", {"top-service": "s2"})
    assert second == first and _counts(db) == counts
    with db.session() as session:
        users = {u.name: u for u in session.scalars(sa.select(User))}
    assert passwords.verify_password("a2", users["admin"].password_hash)
    assert users["top-service"].is_service and not users["admin"].is_service
    client = create_app(conf, db).test_client()
    assert issue(client, "admin", "a1", "admin").status_code == 401
    assert issue(client, "admin", "a2", "admin").status_code == 201
    assert issue(client, "top-service", "s2", "service").json["token"]["roles"][0]["name"] == "service"


def test_bootstrap_without_demo(conf, db):
    ids = bootstrap(conf, db, "a1", None, {})
    assert set(ids["users"]) == {"admin"} and "demo" not in ids["projects"]
    with pytest.raises(ValueError):
        bootstrap(conf, db, "", None, {})


def test_cli_bootstrap_migrates_and_bootstraps(conf, tmp_path, capsys):
    (tmp_path / "admin").write_text("admin-pw\n")
    (tmp_path / "svc").write_text("svc-pw\n")
    argv = ["--config", conf.source, "bootstrap", "--admin-password-file", str(tmp_path / "admin"),
            "--service-account", f"top-service={tmp_path / 'svc'}"]
    assert cmd.main(argv) == 0
    output = capsys.readouterr().out
    assert "admin-pw" not in output and "svc-pw" not in output
    result = json.loads(output)
    assert set(result["users"]) == {"admin", "top-service"}
    assert cmd.main(argv) == 0  # again: nothing duplicated
    assert json.loads(capsys.readouterr().out) == result
    db = Database(conf.database_url)
    assert issue(create_app(conf, db).test_client(), "top-service", "svc-pw", "service").status_code == 201
    db.dispose()


def test_cli_refuses_missing_or_bad_password_files(conf, tmp_path, capsys):
    assert cmd.main(["--config", conf.source, "bootstrap"]) == 2
    assert "--admin-password-file" in capsys.readouterr().err
    (tmp_path / "admin").write_text("x")
    argv = ["--config", conf.source, "bootstrap", "--admin-password-file", str(tmp_path / "admin"),
            "--service-account", "no-file-given"]
    assert cmd.main(argv) == 2
    assert "NAME=PASSWORD_FILE" in capsys.readouterr().err


def test_cli_rotate_keys(conf, capsys):
    assert cmd.main(["--config", conf.source, "rotate-keys"]) == 0
    states = json.loads(capsys.readouterr().out)["keys"]
    assert sorted(states.values()) == ["primary", "staged"]


def test_build_needs_an_identity_endpoint(make_conf):
    conf = make_conf()
    assert [c.name for c in cmd.build(conf, None)] == ["cloud-identity"]
    bare = dataclasses.replace(conf, identity=None)
    with pytest.raises(ConfigError):
        cmd.build(bare, None)
