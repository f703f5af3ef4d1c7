"""The state file a running supervisor keeps, and what other commands read from it.

``trtl up`` writes ``<run dir>/state.json`` (private to the user) at every change; ``trtl
status``, ``ps``, ``logs``, ``down`` and ``chat`` read it from another terminal. A lock file
held by the supervisor for its whole life makes a second ``trtl up`` of the same name
refuse. Processes are recorded with their create time, so a PID the system reused for
another program is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO

from launcher.deployments.paths import RunDir, state_home
from profiles.errors import SupervisorError

STATE_FILE = "state.json"
LOCK_FILE = "supervisor.lock"
# Deployment states, as `trtl status --json` reports them.
ACTIVE_STATES = ("starting", "ready", "degraded")
DEPLOYMENT_STATES = (*ACTIVE_STATES, "stopped", "failed")


@dataclass
class ProcessState:
    """One supervised process as the supervisor last saw it."""

    name: str
    role: str
    mode: str | None = None
    pid: int | None = None
    create_time: float | None = None  # psutil's, to tell our process from a reused PID
    state: str = "pending"  # pending|starting|running|backoff|stopping|stopped|failed
    restarts: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    gpus: list[int] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    log: str = ""


@dataclass
class DeploymentState:
    """What ``trtl status --json`` prints, and what the state file holds."""

    deployment: str
    state: str
    frontend_url: str
    run_dir: str
    profile: str = ""
    engine: str = ""
    model: str = ""
    served_model_name: str = ""
    message: str | None = None
    started_at: float = 0.0
    ready_after: float | None = None  # seconds from start until first ready
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    updated_at: float = 0.0
    processes: list[ProcessState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentState:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["processes"] = [
            ProcessState(**{k: v for k, v in p.items() if k in _PROCESS_FIELDS})
            for p in data.get("processes", [])
        ]
        return cls(**values)

    @property
    def supervisor_alive(self) -> bool:
        return is_same_process(self.supervisor_pid, self.supervisor_create_time)

    def effective(self) -> DeploymentState:
        """The state as seen now: an active state whose supervisor is gone is a failure,
        and its processes are what is really left of them."""
        if self.state in ACTIVE_STATES and not self.supervisor_alive:
            from launcher.deployments.leftovers import leftover_groups

            self.state = "failed"
            # A process killed with its supervisor may leave its own children (an engine's
            # subprocesses) serving in its group: that process is left running too.
            groups = set(leftover_groups(self))
            left = [
                p.name
                for p in self.processes
                if is_same_process(p.pid, p.create_time) or p.pid in groups
            ]
            for proc in self.processes:
                if proc.name not in left and proc.state not in ("stopped", "failed"):
                    proc.state = "stopped"
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
    """Create ``path`` (and parents) readable by the user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def open_private_log(path: Path, *, append: bool = True) -> BinaryIO:
    """Open a log for writing, readable by the user only (also a file an older run left)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb", buffering=0)


def write_state(run_dir: RunDir, state: DeploymentState) -> None:
    """Replace the state file atomically, with user-only permissions."""
    state.updated_at = time.time()
    target = run_dir.root / STATE_FILE
    tmp = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state.to_json(), out, indent=1)
    os.replace(tmp, target)


def read_state(run_dir: RunDir, as_written: bool = False) -> DeploymentState | None:
    """The deployment's state as seen now (or ``as_written`` by its supervisor), or None if
    it never ran. Raises SupervisorError if the file is corrupt."""
    path = run_dir.root / STATE_FILE
    try:
        state = DeploymentState.from_json(json.loads(path.read_text()))
        return state if as_written else state.effective()
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, AttributeError) as exc:
        raise SupervisorError(
            f"the state file {path} is unreadable ({type(exc).__name__}).",
            hint=f"Stop what may still run with `trtl down {run_dir.root.name}`; "
            "it removes the file.",
        ) from exc


def list_states() -> list[DeploymentState]:
    """Every deployment that left a readable state file, sorted by name."""
    root = state_home()
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            with contextlib.suppress(SupervisorError):
                state = read_state(RunDir(child))
                if state is not None:
                    found.append(state)
    return found


def find_deployment(name: str | None) -> DeploymentState:
    """The named deployment, or the only active one. Raises SupervisorError otherwise."""
    if name:
        state = read_state(RunDir.for_deployment(name))
        if state is None:
            raise SupervisorError(
                f"no deployment named {name!r} has run here.", hint="`trtl ps` lists them."
            )
        return state
    active = [s for s in list_states() if s.state in ACTIVE_STATES]
    if not active:
        raise SupervisorError("no deployment is running.", hint="Start one with `trtl up PROFILE`.")
    if len(active) > 1:
        names = ", ".join(s.deployment for s in active)
        raise SupervisorError(
            f"{len(active)} deployments are running ({names}).", hint="Name one of them."
        )
    return active[0]


class DeploymentLock:
    """The supervisor's claim on a deployment name; the OS drops it when the process dies."""

    def __init__(self, run_dir: RunDir):
        self.path = run_dir.root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> bool:
        make_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        self.mark_holder()
        return True

    def mark_holder(self) -> None:
        """Write who holds the lock into it, so `trtl down` finds it without a state file."""
        from launcher.deployments.process_time import create_time_of

        assert self._fd is not None
        me = os.getpid()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{me} {create_time_of(me)}\n".encode(), 0)

    def holder(self) -> tuple[int, float] | None:
        """The (pid, create time) that holds the lock now, or None."""
        if not self.held_elsewhere():
            return None
        try:
            pid, create_time = self.path.read_text().split()
            return int(pid), float(create_time)
        except (OSError, ValueError):
            return None

    @property
    def fd(self) -> int | None:
        return self._fd

    @classmethod
    def adopt(cls, run_dir: RunDir, fd: int) -> DeploymentLock:
        """Take over a lock a parent acquired and passed down (``trtl up -d``)."""
        lock = cls(run_dir)
        lock._fd = fd
        lock.mark_holder()
        return lock

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock (checked without keeping it)."""
        if not self.path.exists():
            return False
        if self.acquire():
            self.release()
            return False
        return True
