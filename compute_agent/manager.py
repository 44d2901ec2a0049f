"""The RPC endpoint of one host (topic ``compute``, server = host name).

Every method is a cast: it queues the work under the instance's uuid and
returns, so messages for one instance are handled one at a time, in order,
and a slow hypervisor never holds an RPC thread. ``prestage_image`` is the
exception: a call answered when its copy is done, holding one RPC thread
meanwhile (the cell's scheduler bounds how many copies run at once).
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext
from compute_agent import actions, build, prestage, snapshot
from compute_agent.env import HostEnv
from compute_agent.rpcapi import VERSION
from compute_agent.sync import give_up


class ComputeManager:
    target = rpc.target(VERSION)

    def __init__(self, env: HostEnv) -> None:
        self.env = env

    def build_and_run_instance(self, ctxt: RequestContext, instance: dict[str, Any],
                               image: dict[str, Any]) -> None:
        env = self.env
        env.queue.submit(instance["uuid"], lambda: build.run(env, instance, image), "build",
                         on_give_up=lambda exc: build.fail(env, instance, exc))

    def _action(self, uuid: str, action: str) -> None:
        env = self.env
        env.queue.submit(uuid, lambda: actions.perform(env, uuid, action), action,
                         on_give_up=lambda exc: give_up(env, uuid, exc))

    def stop_instance(self, ctxt: RequestContext, uuid: str) -> None:
        self._action(uuid, actions.action_for("stop"))

    def start_instance(self, ctxt: RequestContext, uuid: str) -> None:
        self._action(uuid, actions.action_for("start"))

    def reboot_instance(self, ctxt: RequestContext, uuid: str, hard: bool = False) -> None:
        self._action(uuid, actions.action_for("reboot", hard))

    def terminate_instance(self, ctxt: RequestContext, uuid: str) -> None:
        self._action(uuid, actions.action_for("terminate"))

    def snapshot_instance(self, ctxt: RequestContext, uuid: str, image_id: str,
                          disk_format: str = "qcow2") -> None:
        """Cast (1.1): snapshot the instance's disk into the queued image ``image_id``."""
        env = self.env
        env.queue.submit(uuid, lambda: snapshot.perform(env, uuid, image_id, disk_format), "snapshot",
                         on_give_up=lambda exc: snapshot.give_up(env, uuid, image_id, exc))

    def prestage_image(self, ctxt: RequestContext, image: dict[str, Any],
                       source: dict[str, Any] | None) -> dict[str, Any]:
        """Call (1.2): copy an image into this host's cache now; the caller waits for the answer."""
        return prestage.run(self.env, image, source)
