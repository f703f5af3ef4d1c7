"""What is known of a deployment whose state file is missing or unreadable.

The state file is a convenience, not the truth: the lock file names the process holding
the deployment (the starting ``trtl up`` or the supervisor), and the processes themselves
carry the deployment's discovery directory in their environment. ``trtl status``, ``ps``
and ``logs`` show a deployment known only that way as ``unknown``, with its log files as
its processes; ``trtl down`` stops it the same way.
"""

from __future__ import annotations

from trtl.launcher.deployments.lifecycle import DeploymentStatus, ProcessStatus
from trtl.launcher.deployments.lock import STARTER, DeploymentLock
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import DeploymentState, ProcessState


def recovered_state(run_dir: RunDir, why: str) -> DeploymentState | None:
    """A stand-in state built from the lock and the processes, or None if neither shows
    that anything of the deployment runs. ``why``: "missing" or "unreadable"."""
    from trtl.launcher.deployments.leftovers import discovered_groups

    name = run_dir.root.name
    holder = DeploymentLock(run_dir).holder()
    holder = holder if holder is not None and holder.alive else None
    groups = [] if holder is not None else discovered_groups(run_dir)
    if holder is None and not groups:
        return None
    state = DeploymentStatus.UNKNOWN
    if holder is None:
        who = f"its supervisor is gone, but process groups {groups} of it still run"
    elif holder.role == STARTER:
        state, who = DeploymentStatus.STARTING, f"`trtl up` (pid {holder.pid}) is starting it"
    else:
        who = f"its supervisor (pid {holder.pid}) runs"
    message = (
        f"its state file is {why}"
        + (" (not written yet, or lost)" if why == "missing" else "")
        + f"; {who}; `trtl down {name}` stops it"
    )
    return DeploymentState(
        deployment=name,
        state=state,
        frontend_url="",
        run_dir=str(run_dir.root),
        message=message,
        supervisor_pid=holder.pid if holder else None,
        supervisor_create_time=holder.create_time if holder else None,
        processes=[
            ProcessState(name=log.stem, role="?", state=ProcessStatus.UNKNOWN, log=str(log))
            for log in sorted(run_dir.logs.glob("*.log"))
        ],
    )
