"""Which deployments still run, and forgetting one that does not (``trtl ps``, ``trtl rm``).

A deployment runs while its state is active (starting, ready, degraded) or while a process
of it is still alive after its supervisor died (a ``failed`` state with processes left
running: ``trtl down NAME`` stops them). Forgetting removes the run directory (state,
logs, engine configs, discovery files) under the deployment's lock, so a ``trtl up`` of the
same name cannot start in the middle of it.
"""

from __future__ import annotations

import shutil

from trtl.launcher.deployments.lifecycle import ENDED, ProcessStatus
from trtl.launcher.deployments.lock import DeploymentLock
from trtl.launcher.deployments.paths import RunDir, check_name
from trtl.launcher.deployments.state import DeploymentState, read_state
from trtl.profiles.errors import SupervisorError

_DONE = (*ENDED, ProcessStatus.PENDING)  # process states that hold nothing running


def still_running(state: DeploymentState) -> bool:
    """True while the deployment (as seen now, ``state.effective()``) has anything running."""
    if state.active:
        return True
    return any(proc.state not in _DONE for proc in state.processes)


def forget_deployment(name: str) -> str:
    """Remove a stopped deployment's run directory; returns what was done.

    Raises SupervisorError when there is no such deployment or it still runs."""
    run_dir = RunDir.for_deployment(check_name(name))
    if not run_dir.root.is_dir():
        raise SupervisorError(
            f"no deployment named {name!r} has run here.", hint="`trtl ps --all` lists them."
        )
    lock = DeploymentLock(run_dir)
    if not lock.acquire():
        raise SupervisorError(_running(name))
    try:
        try:
            state = read_state(run_dir)
        except SupervisorError:
            state = None  # an unreadable state file, and nobody holds the lock: forget it
        if state is not None and still_running(state):
            raise SupervisorError(_running(name))
        shutil.rmtree(run_dir.root)
    finally:
        lock.release()
    return f"forgot {name!r}: removed {run_dir.root} (its state and logs)"


def _running(name: str) -> str:
    return (
        f"{name!r} is still running; stop it first with `trtl down {name}`, then `trtl rm {name}`."
    )
