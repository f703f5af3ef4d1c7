"""Stopping a deployment from outside its supervisor (``trtl down``).

A live supervisor is asked with SIGTERM, the same as Ctrl-C: it drains, kills and checks
its trees itself. A supervisor that is gone (killed with SIGKILL) left at most some
grandchildren behind; those are found through the state file and stopped here. A state
file that cannot be read is removed after saying so.
"""

from __future__ import annotations

import os
import signal
import time

from profiles.errors import SupervisorError

from .leftovers import leftover_groups, stop_groups
from .paths import RunDir
from .state import STATE_FILE, DeploymentState, find_deployment, write_state

SUPERVISOR_EXTRA_WAIT = 15.0  # beyond the grace period: its own SIGKILL and checks


def stop_deployment(name: str | None, grace: float | None = None) -> list[str]:
    """Stop the deployment; return what happened, one line each. Raises SupervisorError."""
    try:
        state = find_deployment(name)
    except SupervisorError:
        if name and _remove_corrupt(name):
            return [f"removed the unreadable state file of {name!r}; nothing of it was running"]
        raise
    lines: list[str] = []
    if state.supervisor_alive:
        lines.append(f"stopping {state.deployment!r} (supervisor pid {state.supervisor_pid})")
        _stop_supervisor(state, grace)
    left = leftover_groups(state)
    if left:
        lines.append(f"stopping {len(left)} process groups left by {state.deployment!r}")
        survivors = stop_groups(left, grace=30.0 if grace is None else grace)
        if survivors:
            raise SupervisorError(
                f"processes {survivors} of {state.deployment!r} survived SIGKILL."
            )
    if not lines:
        lines.append(f"{state.deployment!r} is not running ({state.state})")
        return lines
    _mark_stopped(state)
    lines.append(f"{state.deployment!r} stopped; nothing left running")
    return lines


def _stop_supervisor(state: DeploymentState, grace: float | None) -> None:
    import psutil

    pid = state.supervisor_pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait = (30.0 if grace is None else grace) + SUPERVISOR_EXTRA_WAIT
    try:
        psutil.Process(pid).wait(timeout=wait)
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    except psutil.NoSuchProcess:
        pass


def _mark_stopped(state: DeploymentState) -> None:
    run_dir = RunDir.for_deployment(state.deployment)
    current = find_deployment(state.deployment)
    if current.state != "stopped":
        current.state = "stopped"
        current.message = None
        for proc in current.processes:
            proc.state = "stopped"
        write_state(run_dir, current)


def _remove_corrupt(name: str) -> bool:
    path = RunDir.for_deployment(name).root / STATE_FILE
    if path.exists():
        path.unlink()
        return True
    return False
