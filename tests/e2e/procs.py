"""Start a plan's real processes for a test, wait until it serves, and stop every group.

No supervisor here on purpose: these helpers run exactly the argv and env of a ``Plan``,
so an end-to-end test checks Dynamo and the plan, not trtl's process management.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from trtl.launcher.planning.plan import Plan


def start(plan: Plan, home: Path) -> list[subprocess.Popen]:
    """Start every process of ``plan`` in its own process group, logging into its run dir."""
    plan.run_dir.discovery.mkdir(parents=True)
    procs = []
    for proc in plan.processes:
        log = (plan.run_dir.root / f"{proc.name}.log").open("wb")
        # HOME is private: the frontend caches model cards under $HOME/.cache/dynamo.
        env = {**os.environ, **proc.env, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
        env.pop("NATS_SERVER", None)
        procs.append(
            subprocess.Popen(
                proc.argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    return procs


def wait_listed(plan: Plan, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    """Wait until the frontend lists the served model; fail early when a process exits."""
    url = plan.frontend_url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.args[2:4] for p in procs if p.poll() is not None]
        assert not dead, f"exited early: {dead}; logs in {plan.run_dir.root}"
        try:
            models = httpx.get(f"{url}/v1/models", timeout=2).json()["data"]
            if any(m["id"] == plan.profile.served_name for m in models):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"model never listed; logs in {plan.run_dir.root}")


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGKILL every process group and reap the leaders."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait(timeout=10)


def pgid(pid: int) -> int | None:
    """The process group of ``pid``, or None when it is gone."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
