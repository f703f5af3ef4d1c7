"""Processes a deployment left behind when its supervisor could not stop them.

A supervisor killed with SIGKILL takes its children with it (``PR_SET_PDEATHSIG``), but
their own children (engine subprocesses) may survive in the children's process groups.
``trtl up`` and ``trtl down`` of that deployment find them through the state file and stop
them. A group is only signalled when its leader is the very process trtl started (same
create time) or the leader is gone and the group still has members.
"""

from __future__ import annotations

import contextlib
import os
import signal

from .component import group_members, kill_group_members, wait_groups_empty
from .state import DeploymentState, is_same_process


def leftover_groups(state: DeploymentState) -> list[int]:
    """Process groups of the deployment that still have live members."""
    groups = []
    for proc in state.processes:
        if not proc.pid:
            continue
        ours = is_same_process(proc.pid, proc.create_time) or _leader_gone(proc.pid)
        if ours and group_members(proc.pid):
            groups.append(proc.pid)
    return groups


def _leader_gone(pid: int) -> bool:
    import psutil

    return not psutil.pid_exists(pid)


def stop_groups(groups: list[int], grace: float) -> list[int]:
    """SIGTERM each group, wait up to ``grace`` s, SIGKILL the rest; return PIDs still alive."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    wait_groups_empty(groups, grace)
    for pgid in groups:
        kill_group_members(pgid, signal.SIGKILL)
    return wait_groups_empty(groups, 5.0)
