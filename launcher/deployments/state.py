"""The state file a running supervisor keeps, and what other commands read from it.

``trtl up`` writes ``<run dir>/state.json`` (private to the user) at every change; ``trtl
status``, ``ps``, ``logs``, ``down`` and ``chat`` read it from another terminal. A lock file
held by the supervisor for its whole life makes a second ``trtl up`` of the same name
refuse. Processes are recorded with their create time, so a PID the system reused for
another program is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO

from trtl.launcher.deployments.files import write_atomic
from trtl.launcher.deployments.lifecycle import (
    ACTIVE,
    ENDED,
    DeploymentStatus,
    ProcessStatus,
    move,
)
from trtl.launcher.deployments.paths import RunDir, state_home
from trtl.profiles.errors import PreflightError, SupervisorError

STATE_FILE = "state.json"
# Deployment states, as `trtl status --json` reports them.
ACTIVE_STATES = tuple(s for s in DeploymentStatus if s in ACTIVE)
DEPLOYMENT_STATES = tuple(DeploymentStatus)


@dataclass
class ProcessState:
    """One supervised process as the supervisor last saw it."""

    name: str
    role: str
    mode: str | None = None
    pid: int | None = None
    create_time: float | None = None  # psutil's, to tell our process from a reused PID
    state: ProcessStatus = ProcessStatus.PENDING
    restarts: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    gpus: list[int] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    log: str = ""

    def move(self, new: ProcessStatus) -> None:
        """Change state; raises IllegalTransition for a move the lifecycle forbids."""
        self.state = move(self.name, self.state, new)

    def end(self) -> None:
        """Stopped, unless it already ended (a failed process stays failed)."""
        if self.state not in ENDED:
            self.move(ProcessStatus.STOPPED)


@dataclass
class DeploymentState:
    """What ``trtl status --json`` prints, and what the state file holds."""

    deployment: str
    state: DeploymentStatus
    frontend_url: str
    run_dir: str
    profile: str = ""
    engine: str = ""
    model: str = ""
    served_model_name: str = ""
    message: str | None = None
    hint: str | None = None  # the fix, where the failure has one
    # The process that caused a failure, and its last lines as the supervisor showed them.
    culprit: str | None = None
    culprit_tail: list[str] = field(default_factory=list)
    started_at: float = 0.0
    ready_after: float | None = None  # seconds from start until first ready
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    updated_at: float = 0.0
    processes: list[ProcessState] = field(default_factory=list)

    def move(self, new: DeploymentStatus) -> None:
        """Change state; raises IllegalTransition for a move the lifecycle forbids."""
        self.state = move(self.deployment, self.state, new)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentState:
        """Raises ValueError, TypeError or AttributeError for data that is not a state."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = DeploymentStatus(data["state"])
        values["processes"] = [
            ProcessState(
                **{k: v for k, v in p.items() if k in _PROCESS_FIELDS and k != "state"},
                state=ProcessStatus(p.get("state", "pending")),
            )
            for p in data.get("processes", [])
        ]
        return cls(**values)

    @property
    def supervisor_alive(self) -> bool:
        return is_same_process(self.supervisor_pid, self.supervisor_create_time)

    def effective(self) -> DeploymentState:
        """The state as seen now: an active state whose supervisor is gone is a failure,
        and its processes are what is really left of them."""
        if self.active and self.state != DeploymentStatus.UNKNOWN and not self.supervisor_alive:
            from trtl.launcher.deployments.leftovers import leftover_groups

            self.move(DeploymentStatus.FAILED)
            # A process killed with its supervisor may leave its own children (an engine's
            # subprocesses) serving in its group: that process is left running too.
            groups = set(leftover_groups(self))
            left = [
                p.name
                for p in self.processes
                if is_same_process(p.pid, p.create_time) or p.pid in groups
            ]
            for proc in self.processes:
                if proc.name not in left:
                    proc.end()
            self.message = f"the supervisor (pid {self.supervisor_pid}) is gone" + (
                f"; `trtl down {self.deployment}` stops what it left running ({', '.join(left)})"
                if left
                else "; none of its processes runs"
            )
        return self


_PROCESS_FIELDS = {f.name for f in fields(ProcessState)}


def is_same_process(pid: int | None, create_time: float | None) -> bool:
    """True when ``pid`` runs and is the process that was started at ``create_time``."""
    if not pid or create_time is None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.05 and proc.status() != "zombie"
    except psutil.Error:
        return False


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by the user only; under the state root, the
    root too (``mkdir -p`` would leave it 0755: a list of deployment names for anyone)."""
    root = state_home()
    try:
        if path == root or root in path.parents:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            root.chmod(0o700)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.chmod(0o700)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise unwritable_state(root, exc.strerror) from exc
        raise


def unwritable_state(root: Path, why: str) -> PreflightError:
    """The error for a state directory trtl cannot write (a read-only file system, no
    permission): the user's environment, not a trtl bug."""
    return PreflightError(
        f"trtl cannot write its state directory {root} ({why.lower()}).",
        hint="Set XDG_STATE_HOME to a writable directory.",
    )


def open_private_log(path: Path, *, append: bool = True) -> BinaryIO:
    """Open a log for writing, readable by the user only (also a file an older run left)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb", buffering=0)


def write_state(run_dir: RunDir, state: DeploymentState) -> None:
    """Replace the state file atomically, with user-only permissions."""
    state.updated_at = time.time()
    write_atomic(run_dir.root / STATE_FILE, json.dumps(state.to_json(), indent=1), 0o600)


def read_state(run_dir: RunDir, as_written: bool = False) -> DeploymentState | None:
    """The deployment's state as seen now (or ``as_written`` by its supervisor), or None if
    it never ran. Raises SupervisorError if the file is corrupt."""
    path = run_dir.root / STATE_FILE
    try:
        state = DeploymentState.from_json(json.loads(path.read_text()))
        return state if as_written else state.effective()
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SupervisorError(
            f"the state file {path} is unreadable ({type(exc).__name__}).",
            hint=f"Stop what may still run with `trtl down {run_dir.root.name}`; "
            "it removes the file.",
        ) from exc


def list_states() -> list[DeploymentState]:
    """Every deployment that left a readable state file, or whose supervisor or processes
    run without one (``unknown``), sorted by name."""
    root = state_home()
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            with contextlib.suppress(SupervisorError):
                state = _read_or_recover(RunDir(child))
                if state is not None:
                    found.append(state)
    return found


def _read_or_recover(run_dir: RunDir) -> DeploymentState | None:
    """The state file's state; where it is missing or unreadable, what the lock and the
    processes say; None when nothing is known. Raises SupervisorError for an unreadable
    file of a deployment of which nothing runs."""
    try:
        state = read_state(run_dir)
    except SupervisorError:
        from trtl.launcher.deployments.recovery import recovered_state

        recovered = recovered_state(run_dir, "unreadable")
        if recovered is None:
            raise
        return recovered
    if state is None:
        from trtl.launcher.deployments.recovery import recovered_state

        return recovered_state(run_dir, "missing")
    return state


def find_deployment(name: str | None) -> DeploymentState:
    """The named deployment, or the only active one. Raises SupervisorError otherwise."""
    if name:
        state = _read_or_recover(RunDir.for_deployment(name))
        if state is None:
            raise SupervisorError(
                f"no deployment named {name!r} has run here.", hint="`trtl ps` lists them."
            )
        return state
    active = [s for s in list_states() if s.active]
    if not active:
        raise SupervisorError("no deployment is running.", hint="Start one with `trtl up PROFILE`.")
    if len(active) > 1:
        names = ", ".join(s.deployment for s in active)
        raise SupervisorError(
            f"{len(active)} deployments are running ({names}).", hint="Name one of them."
        )
    return active[0]
