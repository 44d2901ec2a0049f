"""Start `cloudctl up` for a benchmark and wait for its ready line (shared by the benchmarks)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

import pymysql

CLOUDCTL = os.path.join(os.path.dirname(sys.executable), "cloudctl")


def start_cloud(args: list[str], timeout: float = 600.0) -> tuple[subprocess.Popen[str], bool]:
    """Run ``cloudctl up ARGS`` in its own session; returns (process, whether it printed "cloud ready").

    Its output keeps being read (and dropped) so the launcher never blocks on a full pipe.
    """
    proc = subprocess.Popen([CLOUDCTL, "up", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    ready: queue.Queue[bool] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("cloud ready"):
                ready.put(True)
        ready.put(False)

    threading.Thread(target=read, daemon=True).start()
    try:
        return proc, ready.get(timeout=timeout)
    except queue.Empty:
        return proc, False


def stop_cloud(proc: subprocess.Popen[str], prefix: str, cells: Sequence[str]) -> None:
    """Stop a deployed cloud as Ctrl-C would (killed after 90 s), then drop its databases and vhosts."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    conn = pymysql.connect(host="127.0.0.1", user="root", password="")
    with conn.cursor() as cur:
        for cell in cells:
            cur.execute(f"DROP DATABASE IF EXISTS `{prefix}_{cell}`")
    conn.close()
    for cell in cells:
        subprocess.run(["rabbitmqctl", "delete_vhost", f"{prefix}-{cell}"], capture_output=True)
