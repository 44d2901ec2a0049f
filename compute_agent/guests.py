"""A host's guests on disk and in the hypervisor: specs, recreation, removal."""

from __future__ import annotations

import logging
import os
import shutil

from compute_agent.env import HostEnv
from compute_agent.virt.driver import GuestSpec, InstanceNotFound

LOG = logging.getLogger(__name__)


def save_spec(env: HostEnv, spec: GuestSpec) -> None:
    """Keep the guest's spec in its instance directory, to recreate it if its domain vanishes."""
    path = env.paths.spec_file(spec.uuid)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(spec.to_json())
    os.replace(tmp, path)


def load_spec(env: HostEnv, uuid: str) -> GuestSpec | None:
    """Return the saved spec of ``uuid``, or None if it was never built here."""
    try:
        with open(env.paths.spec_file(uuid)) as f:
            return GuestSpec.from_json(f.read())
    except FileNotFoundError:
        return None


def ensure_guest(env: HostEnv, uuid: str, start: bool) -> bool:
    """Make sure the guest's domain exists (recreated from its spec if needed), started if ``start``.

    Returns False if the domain is gone and no spec is left to recreate it.
    """
    try:
        env.driver.power_state(uuid)
    except InstanceNotFound:
        spec = load_spec(env, uuid)
        if spec is None:
            return False
        LOG.warning("instance %s: domain missing, recreating it", uuid)
        env.driver.spawn(spec, start=start)
        return True
    if start:
        env.driver.power_on(uuid)
    return True


def power_off(env: HostEnv, uuid: str) -> None:
    """Stop the guest, cleanly if it cooperates within the shutdown timeout."""
    env.expect_stop(uuid)
    env.driver.power_off(uuid, env.shutdown_timeout)


def teardown(env: HostEnv, uuid: str) -> None:
    """Remove every local trace of a guest: domain, disk, instance directory, held capacity."""
    env.expect_stop(uuid)
    env.driver.destroy(uuid)
    shutil.rmtree(env.paths.instance_dir(uuid), ignore_errors=True)
    env.capacity.release(uuid)
