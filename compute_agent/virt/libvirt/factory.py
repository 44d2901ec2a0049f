"""Open the libvirt driver of one host: a simulated one from its node document, or a real URI."""

from __future__ import annotations

import os

from cells.config import CellConfig
from compute_agent.virt.libvirt import xml
from compute_agent.virt.libvirt.driver import LibvirtDriver

SIMULATED_URI = "test:///auto"


def is_simulated(uri: str) -> bool:
    """True if ``uri`` asks for a simulated host generated from the config."""
    return uri == SIMULATED_URI


def write_node(conf: CellConfig, node_path: str, pool_name: str, pool_path: str) -> str:
    """Write the simulated host's node document; returns its test:// URI."""
    sim = conf.simulated_host
    document = xml.node_xml(sim.cpus, sim.memory_mb, sim.cpu_model, pool_name, pool_path)
    os.makedirs(os.path.dirname(node_path), mode=0o755, exist_ok=True)
    tmp = node_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(document)
    os.replace(tmp, node_path)
    return "test://" + os.path.abspath(node_path)


def open_driver(conf: CellConfig, host: str, node_path: str, pool_path: str,
                lifecycle_events: bool = True) -> LibvirtDriver:
    """Return a connected driver for ``host``; raises HypervisorUnavailable if libvirt cannot be opened.

    With ``libvirt_uri: test:///auto`` every host gets its own node document
    and its own private test-driver state; any other URI is used as is.
    """
    pool_name = f"cloud-{host}"
    uri = conf.libvirt_uri
    hostname = None
    if is_simulated(uri):
        uri = write_node(conf, node_path, pool_name, pool_path)
        hostname = host
    return LibvirtDriver(uri, conf.virt_type, pool_name, pool_path, hostname=hostname,
                         lifecycle_events=lifecycle_events, owner=host, guest_network=conf.guest_network)
