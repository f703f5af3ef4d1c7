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

from launcher.deployments.leftovers import leftover_groups, stop_groups
from launcher.deployments.lifecycle import DeploymentStatus
from launcher.deployments.paths import RunDir
from launcher.deployments.state import (
    STATE_FILE,
    DeploymentLock,
    DeploymentState,
    find_deployment,
    is_same_process,
    list_states,
    read_state,
    write_state,
)
from profiles.errors import SupervisorError

SUPERVISOR_EXTRA_WAIT = 15.0  # beyond the grace period: its own SIGKILL and checks


def stop_deployment(name: str | None, grace: float | None = None) -> list[str]:
    """Stop the deployment; return what happened, one line each. Raises SupervisorError."""
    if name is None and not any(s.active for s in list_states()):
        return ["nothing to stop: no deployment is running"]
    try:
        state = find_deployment(name)
    except SupervisorError:
        if name and (RunDir.for_deployment(name).root / STATE_FILE).exists():
            return _stop_without_state(name, grace)
        raise
    lines: list[str] = []
    if state.supervisor_alive:
        lines.append(f"stopping {state.deployment!r} (supervisor pid {state.supervisor_pid})")
        assert state.supervisor_pid is not None
        _stop_supervisor(state.supervisor_pid, grace)
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
    _mark_stopped(state)
    lines.append(f"{state.deployment!r} stopped; nothing left running")
    return lines


def _stop_without_state(name: str, grace: float | None) -> list[str]:
    """The state file is unreadable: stop the supervisor holding the lock, then drop the file."""
    run_dir = RunDir.for_deployment(name)
    holder = DeploymentLock(run_dir).holder()
    lines = []
    if holder and is_same_process(*holder):
        lines.append(
            f"stopping {name!r} (supervisor pid {holder[0]}; its state file is unreadable)"
        )
        _stop_supervisor(holder[0], grace)
    (run_dir.root / STATE_FILE).unlink(missing_ok=True)
    lines.append(f"removed the unreadable state file of {name!r}; nothing of it runs")
    return lines


def _stop_supervisor(pid: int, grace: float | None) -> None:
    import psutil

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
    current = read_state(run_dir, as_written=True)
    # A run that ended in failure keeps its verdict; one whose supervisor vanished, or that
    # was still running, is now stopped.
    if current is not None and current.active:
        current.move(DeploymentStatus.STOPPED)
        current.message = None
        for proc in current.processes:
            proc.end()
        write_state(run_dir, current)
