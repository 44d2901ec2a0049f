"""cloud-compute's command line: hosts to serve and refusals with one line."""

from __future__ import annotations

import argparse

import pytest

from cells.config import parse
from cells.exception import ConfigError
from compute_agent import cmd


def conf(cell_type="compute", uri="test:///auto"):
    cell = {"name": "c1", "type": cell_type}
    if cell_type != "api":
        cell["parent"] = {"path": "top", "broker_url": "fake:///p"}
    return parse({"cell": cell, "database": {"url": "sqlite://"}, "broker": {"url": "fake:///c1"},
                  "compute": {"libvirt_uri": uri}})


def test_host_names():
    assert cmd.host_names("hv", 0) == ["hv"]
    assert cmd.host_names("hv", 2) == ["hv-001", "hv-002"]
    assert len(cmd.host_names("hv", 50)) == 50
    with pytest.raises(ConfigError):
        cmd.host_names("../etc", 0)


def test_parser_takes_host_and_simulate():
    args = cmd.parser().parse_args(["--config", "f", "--host", "h", "--simulate", "4"])
    assert (args.config, args.host, args.simulate) == ("f", "h", 4)


@pytest.mark.parametrize("cell_type,uri,simulate,message", [
    ("api", "test:///auto", 0, "compute cells"),
    ("compute", "qemu:///system", 3, "--simulate needs"),
])
def test_build_refuses(cell_type, uri, simulate, message):
    with pytest.raises(ConfigError, match=message):
        cmd.build(conf(cell_type, uri), argparse.Namespace(host="hv", simulate=simulate))


def test_unreachable_hypervisor_is_a_one_line_error(tmp_path, sqlite_db):
    from compute_agent.agent import AgentGroup

    db = sqlite_db("compute")
    settings = parse({"cell": {"name": "c1", "type": "compute",
                               "parent": {"path": "top", "broker_url": "fake:///p"}},
                      "database": {"url": db.url}, "broker": {"url": "fake:///c1"},
                      "state_dir": str(tmp_path), "images": {"listen": "127.0.0.1:1",
                                                             "public_url": "http://127.0.0.1:1"},
                      "compute": {"libvirt_uri": "test:///nonexistent/node.xml"}})
    group = AgentGroup(settings, db, ["hv"], tokens=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="host hv: cannot open") as err:
        group.start()
    assert "\n" not in str(err.value)
