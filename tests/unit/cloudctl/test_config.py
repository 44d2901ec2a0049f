"""clouds.yaml and OS_* resolution, as the OpenStack tools do it."""

from __future__ import annotations

import pytest
import yaml

from cloudctl.client import CloudConfigError, load_cloud

AUTH = {"auth_url": "http://id:5000/v3", "username": "alice", "password": "pw", "project_name": "demo"}
ENV_KEYS = ("OS_CLOUD", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
            "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No clouds.yaml of the machine or user may leak in: cwd and HOME point at empty dirs."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")


def write(path, clouds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


def test_named_cloud_from_an_explicit_file(tmp_path):
    path = write(tmp_path / "c.yaml", {"a": {"auth": AUTH, "region_name": "R2", "interface": "internal"},
                                       "b": {"auth": {**AUTH, "username": "bob"}}})
    cloud = load_cloud("b", str(path), env={})
    assert (cloud.name, cloud.username, cloud.auth_url) == ("b", "bob", "http://id:5000/v3")
    assert (cloud.user_domain_name, cloud.project_domain_name) == ("Default", "Default")
    cloud = load_cloud("a", str(path), env={})
    assert (cloud.region_name, cloud.interface) == ("R2", "internal")


def test_search_order_env_file_then_cwd_then_home(tmp_path, monkeypatch):
    home = write(tmp_path / "home/.config/openstack/clouds.yaml",
                 {"c": {"auth": {**AUTH, "username": "home"}}})
    assert load_cloud("c").username == "home"
    write(tmp_path / "cwd/clouds.yaml", {"c": {"auth": {**AUTH, "username": "cwd"}}})
    assert load_cloud("c").username == "cwd"
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(home))
    assert load_cloud("c").username == "home"
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(CloudConfigError, match="missing.yaml: no such file"):
        load_cloud("c")


def test_os_cloud_picks_the_cloud_and_a_lone_cloud_is_the_default(tmp_path, monkeypatch):
    write(tmp_path / "cwd/clouds.yaml", {"only": {"auth": AUTH}})
    assert load_cloud().name == "only"
    write(tmp_path / "cwd/clouds.yaml", {"one": {"auth": AUTH}, "two": {"auth": AUTH}})
    with pytest.raises(CloudConfigError, match=r"no cloud chosen.*clouds found: one, two"):
        load_cloud()
    monkeypatch.setenv("OS_CLOUD", "two")
    assert load_cloud().name == "two"
    with pytest.raises(CloudConfigError, match="cloud 'three' is not defined"):
        load_cloud("three")


def test_plain_os_variables():
    env = {"OS_AUTH_URL": "http://id:5000", "OS_USERNAME": "u", "OS_PASSWORD": "p",
           "OS_PROJECT_NAME": "proj", "OS_USER_DOMAIN_NAME": "ud", "OS_PROJECT_DOMAIN_NAME": "pd",
           "OS_REGION_NAME": "R1"}
    cloud = load_cloud(env=env)
    assert (cloud.auth_url, cloud.username, cloud.password, cloud.project_name) == (
        "http://id:5000", "u", "p", "proj")
    assert (cloud.user_domain_name, cloud.project_domain_name, cloud.region_name) == ("ud", "pd", "R1")
    with pytest.raises(CloudConfigError, match="missing auth settings: password"):
        load_cloud(env={k: v for k, v in env.items() if k != "OS_PASSWORD"})


def test_secure_yaml_and_os_password_supply_the_password(tmp_path, monkeypatch):
    no_password = {k: v for k, v in AUTH.items() if k != "password"}
    write(tmp_path / "cwd/clouds.yaml", {"c": {"auth": no_password}})
    with pytest.raises(CloudConfigError, match="missing auth settings: password"):
        load_cloud("c")
    assert load_cloud("c", env={"OS_PASSWORD": "from-env"}).password == "from-env"
    write(tmp_path / "cwd/secure.yaml", {"c": {"auth": {"password": "from-secure"}}})
    assert load_cloud("c").password == "from-secure"


def test_options_overrides_and_refusals(tmp_path):
    path = write(tmp_path / "c.yaml", {
        "c": {"auth": AUTH, "verify": False, "api_timeout": 5, "compute_endpoint_override": "http://c:1"},
        "ca": {"auth": AUTH, "cacert": "/etc/ca.pem"},
        "token": {"auth": AUTH, "auth_type": "token"}})
    cloud = load_cloud("c", str(path), env={})
    assert (cloud.verify, cloud.timeout, dict(cloud.endpoint_overrides)) == (False, 5.0, {"compute": "http://c:1"})
    assert load_cloud("ca", str(path), env={}).verify == "/etc/ca.pem"
    with pytest.raises(CloudConfigError, match="auth_type 'token' is not supported"):
        load_cloud("token", str(path), env={})
    assert "pw" not in repr(load_cloud("c", str(path), env={}))


def test_malformed_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("clouds: [1, 2")
    with pytest.raises(CloudConfigError, match="cannot read"):
        load_cloud("x", str(path), env={})
    path.write_text("clouds: [1, 2]")
    with pytest.raises(CloudConfigError, match="expected a mapping"):
        load_cloud("x", str(path), env={})
