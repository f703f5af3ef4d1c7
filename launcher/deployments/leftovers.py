"""Processes a deployment left behind when its supervisor could not stop them.

A supervisor killed with SIGKILL takes its children with it (``PR_SET_PDEATHSIG``), but
their own children (engine subprocesses) may survive in the children's process groups.
``trtl up`` and ``trtl down`` of that deployment find them through the state file and stop
them; ``trtl down`` also finds them from the processes themselves (their environment names
the deployment's discovery directory), so a lost state file hides nothing. A group
found through the state file is only signalled when its leader is the very process trtl
started (same create time), or when the leader is gone (or an unreaped zombie) and a
member of the group still carries the deployment's discovery directory in its
environment: a PID the system reused for another program's process group is never taken
for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import DeploymentState, is_same_process
from trtl.launcher.supervision.component import group_members, kill_group_members, wait_groups_empty


def leftover_groups(state: DeploymentState) -> list[int]:
    """Process groups of the deployment that still have live members."""
    discovery = str(Path(state.run_dir) / "discovery")
    groups = []
    for proc in state.processes:
        if not proc.pid:
            continue
        if is_same_process(proc.pid, proc.create_time):
            ours = bool(group_members(proc.pid))
        else:
            ours = _orphaned_group(proc.pid, proc.create_time, discovery)
        if ours:
            groups.append(proc.pid)
    return groups


def _orphaned_group(pid: int, create_time: float | None, discovery: str) -> bool:
    """True when the group's leader ``pid`` is gone but members started by this deployment
    remain. They inherited ``DYN_FILE_KV`` from the process trtl started; a group of some
    other program that merely got the same number does not have it."""
    if not _leader_gone(pid, create_time):
        return False
    return any(_discovery_of(member) == discovery for member in group_members(pid))


def _leader_gone(pid: int, create_time: float | None) -> bool:
    import psutil

    try:
        leader = psutil.Process(pid)
        # A leader killed with its supervisor stays a zombie until init reaps it.
        return (
            leader.status() == psutil.STATUS_ZOMBIE
            and create_time is not None
            and abs(leader.create_time() - create_time) < 0.05
        )
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _discovery_of(pid: int) -> str | None:
    import psutil

    try:
        return psutil.Process(pid).environ().get("DYN_FILE_KV")
    except psutil.Error:
        return None


def discovered_groups(run_dir: RunDir) -> list[int]:
    """Process groups with a live member that carries the deployment's discovery directory
    in its environment: what runs of it, found from the processes themselves (no state file
    needed). Only the user's own processes can be read, so only those are found."""
    import psutil

    discovery = str(run_dir.discovery)
    mine = os.getpgid(0)
    groups: set[int] = set()
    for proc in psutil.process_iter(["pid"]):
        if _discovery_of(proc.pid) != discovery:
            continue
        with contextlib.suppress(OSError):
            pgid = os.getpgid(proc.pid)
            if pgid != mine:
                groups.add(pgid)
    return sorted(groups)


def stop_groups(groups: list[int], grace: float) -> list[int]:
    """SIGTERM each group, wait up to ``grace`` s, SIGKILL the rest; return PIDs still alive."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    wait_groups_empty(groups, grace)
    for pgid in groups:
        kill_group_members(pgid, signal.SIGKILL)
    return wait_groups_empty(groups, 5.0)
