import pytest

from cells import config
from cells.exception import ConfigError

BASE = {
    "cell": {"name": "top", "type": "api",
             "children": [{"name": "cell1", "broker_url": "fake:///cell1"}]},
    "database": {"url": "sqlite:///x.db"},
    "broker": {"url": "fake:///top"},
}


def test_sample_configs_load():
    for name in ("top", "cell1", "cell2"):
        conf = config.load(f"etc/cloud/{name}.yaml")
        assert conf.name == name
    cell1 = config.load("etc/cloud/cell1.yaml")
    assert cell1.path == "top!cell1"
    assert cell1.parent_path == "top"
    assert cell1.service_accounts_only


def test_metering_poll_settings():
    defaults = config.parse(BASE)
    assert (defaults.metering_poll_interval, defaults.metering_batch_size) == (300.0, 500)
    conf = config.parse({**BASE, "metering": {"poll_interval": 30, "batch_size": 100}})
    assert (conf.metering_poll_interval, conf.metering_batch_size) == (30, 100)


def test_children_get_paths():
    conf = config.parse(BASE)
    assert conf.is_root
    assert conf.child("cell1").path == "top!cell1"


@pytest.mark.parametrize("mutate, key, expected", [
    (lambda d: d.pop("database"), "database", "required"),
    (lambda d: d["database"].update(url=42), "database.url", "type string"),
    (lambda d: d["cell"].update(type="moon"), "cell.type", "'api'"),
    (lambda d: d.update(colour="red"), "colour", "unknown key"),
    (lambda d: d["database"].update(url="mysql://root@localhost/x"), "database.url", "pymysql"),
    (lambda d: d["cell"].update(parent={"path": "x", "broker_url": "fake:///x"}),
     "cell.parent", "none for the API cell"),
    (lambda d: d.update(metering={"poll_interval": 0}), "metering.poll_interval", "minimum of 0"),
    (lambda d: d.update(metering={"batch_size": 0}), "metering.batch_size", "minimum"),
])
def test_bad_config_names_file_key_and_expectation(mutate, key, expected):
    import copy

    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "top.yaml")
    message = err.value.message
    assert message.startswith("top.yaml: key '" + key + "'"), message
    assert expected in message
    assert "\n" not in message


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("cell: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        config.load(str(bad))


def test_daemon_exits_with_one_line(tmp_path, capsys):
    from cells import cmd

    bad = tmp_path / "c.yaml"
    bad.write_text("cell: {name: top, type: api}\nbroker: {url: 'fake:///t'}\n")
    with pytest.raises(SystemExit) as exit_:
        cmd.main(["--config", str(bad)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cloud-cells: {bad}: key 'database': expected a required key is missing"
