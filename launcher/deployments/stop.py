"""Stopping a deployment from outside its supervisor (``trtl down``).

Who to stop comes from the lock file first: it names the process holding the deployment,
the starting ``trtl up`` (also ``-d``, before its background supervisor wrote any state)
or the supervisor itself. Either is asked with SIGTERM, the same as Ctrl-C: a supervisor
drains, kills and checks its trees itself; a starting ``trtl up -d`` passes the stop on to
the supervisor it started. A supervisor that is gone (killed with SIGKILL) left at most
some grandchildren behind: those are found through the state file and, with or without
it, through the processes themselves (their environment names the deployment's discovery
directory), and stopped here. So neither an early ``down`` nor a lost or unreadable state
file makes a deployment unstoppable; an unreadable file is removed after saying so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.leftovers import discovered_groups, leftover_groups, stop_groups
from trtl.launcher.deployments.lifecycle import DeploymentStatus
from trtl.launcher.deployments.lock import STARTER, DeploymentLock
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import (
    STATE_FILE,
    DeploymentState,
    is_same_process,
    list_states,
    read_state,
    write_state,
)
from trtl.profiles.errors import SupervisorError

SUPERVISOR_EXTRA_WAIT = 15.0  # beyond the grace period: its own SIGKILL and checks
DEFAULT_GRACE = 30.0
# A starting `trtl up -d` hands the lock to its supervisor: at most this many holders in turn.
MAX_HOLDERS = 4
# A `trtl up` reads its profile and plans before it claims the name: seconds at most.
STARTER_WAIT = 120.0


def stop_deployment(name: str | None, grace: float | None = None) -> list[str]:
    """Stop the deployment; return what happened, one line each. Raises SupervisorError."""
    if name is None:
        # A `trtl up` begun before this `down` that has not claimed its name yet is running
        # too: wait until it has, to learn which name it starts.
        starting = stop_request.claimed_names(stop_request.early_starters(None, None), STARTER_WAIT)
        if starting is None:
            raise SupervisorError(
                f"a `trtl up` begun before this `down` has not claimed its deployment name "
                f"after {STARTER_WAIT:.0f} s.",
                hint="Name the deployment to stop: `trtl down NAME`.",
            )
        active = sorted({s.deployment for s in list_states() if s.active} | starting)
        if not active:
            return ["nothing to stop: no deployment is running"]
        if len(active) > 1:
            raise SupervisorError(
                f"{len(active)} deployments are running ({', '.join(active)}).",
                hint="Name one of them.",
            )
        name = active[0]
    run_dir = RunDir.for_deployment(name)
    # A `trtl up` begun before this `down` may not have claimed the name yet: ask it to
    # cancel itself before looking at the lock (stop_request says why nothing slips).
    starters = stop_request.early_starters(name, run_dir)
    if starters:
        stop_request.post(run_dir)
    try:
        return _stop(name, run_dir, grace, starters)
    finally:
        if starters:
            stop_request.withdraw(run_dir)


def _stop(name: str, run_dir: RunDir, grace: float | None, starters: list) -> list[str]:
    state, unreadable = _read(run_dir)
    lines = _stop_holders(name, run_dir, grace, requested=bool(starters))
    if starters:
        lines += _wait_early_starters(name, run_dir, starters)
    groups = set(discovered_groups(run_dir))
    if state is not None:
        groups.update(leftover_groups(state))
    if groups:
        lines.append(f"stopping {len(groups)} process groups left by {name!r}")
        survivors = stop_groups(sorted(groups), grace=DEFAULT_GRACE if grace is None else grace)
        if survivors:
            raise SupervisorError(f"processes {survivors} of {name!r} survived SIGKILL.")
    if unreadable:
        (run_dir.root / STATE_FILE).unlink(missing_ok=True)
        lines.append(f"removed the unreadable state file of {name!r}")
    elif not lines:
        if state is None:
            raise SupervisorError(
                f"no deployment named {name!r} has run here.", hint="`trtl ps` lists them."
            )
        _mark_stopped(run_dir)
        return [f"{name!r} is not running ({state.state}); nothing to stop"]
    _mark_stopped(run_dir)
    lines.append(f"{name!r} stopped; nothing left running")
    return lines


def _wait_early_starters(name: str, run_dir: RunDir, starters: list) -> list[str]:
    """Wait until each `trtl up` begun before this `down` that may start ``name`` ended or
    got past its claim; say which of them cancelled itself on the request.

    The lock is not probed meanwhile: a probe holds it for an instant, and a start
    claiming it then would refuse with "already running"."""
    deadline = time.monotonic() + STARTER_WAIT
    mine = {p.pid for p in starters}  # another `down` at once may have stopped others
    while starters := [p for p in starters if not stop_request.past_claim(p, run_dir)]:
        if time.monotonic() > deadline:
            pids = ", ".join(str(p.pid) for p in starters)
            raise SupervisorError(
                f"`trtl up` (pid {pids}), begun before this `down`, has not claimed its "
                f"deployment name after {STARTER_WAIT:.0f} s; it may be a start of {name!r}.",
                hint=f"Run `trtl down {name}` again once it has, or stop it with kill.",
            )
        time.sleep(0.05)
    return [
        f"stopped the start of {name!r} before it claimed the name (`trtl up` pid {pid})"
        for pid in sorted(stop_request.cancelled(run_dir) & mine)
    ]


def _read(run_dir: RunDir, as_written: bool = False) -> tuple[DeploymentState | None, bool]:
    """(the state, or None; whether the file is there but unreadable)."""
    try:
        return read_state(run_dir, as_written=as_written), False
    except SupervisorError:
        return None, True


def _stop_holders(name: str, run_dir: RunDir, grace: float | None, requested: bool) -> list[str]:
    """Stop whoever holds the deployment's lock, and then whoever it handed it to
    (``requested``: this ``down`` has posted its stop request already)."""
    lines: list[str] = []
    stopped: set[int] = set()
    for _ in range(MAX_HOLDERS):
        holder = DeploymentLock(run_dir).holder()
        if holder is None or not holder.alive or holder.pid in stopped:
            break
        if holder.role == STARTER:
            lines.append(f"stopping the start of {name!r} (`trtl up` pid {holder.pid})")
            # A request as before the claim (unless this `down` left one already): the start
            # it ends reads it and says `trtl down` stopped it, not a SIGTERM from nowhere.
            if not requested:
                stop_request.post(run_dir)
            try:
                _stop_process(holder.pid, holder.create_time, grace)
            finally:
                if not requested:
                    stop_request.withdraw(run_dir)
        else:
            lines.append(f"stopping {name!r} (supervisor pid {holder.pid})")
            _stop_process(holder.pid, holder.create_time, grace)
        stopped.add(holder.pid)
    return lines


def _stop_process(pid: int, create_time: float, grace: float | None) -> None:
    """SIGTERM ``pid``, wait for it (its own grace period and checks), SIGKILL if it hangs.

    Waits by polling: the process is not our child, and one that exited stays a zombie
    until its parent (a shell, a test) reaps it: that counts as ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        # A supervisor stopped with Ctrl-Z or SIGSTOP would only take the SIGTERM once
        # continued: without this, `down` waited out the grace period and more, then killed it.
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + (DEFAULT_GRACE if grace is None else grace)
    deadline += SUPERVISOR_EXTRA_WAIT
    while is_same_process(pid, create_time):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0  # SIGKILL cannot be ignored: a short wait
        time.sleep(0.05)


def _mark_stopped(run_dir: RunDir) -> None:
    current = _read(run_dir, as_written=True)[0]
    # A run that ended in failure keeps its verdict; one whose supervisor vanished, or that
    # was still running, is now stopped.
    if current is not None and current.active:
        current.move(DeploymentStatus.STOPPED)
        current.message = None
        for proc in current.processes:
            proc.end()
        write_state(run_dir, current)
