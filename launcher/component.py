"""One supervised process: spawn it, drain its output, notice its exit, signal its group.

Each process runs in its own session (so its whole tree is one process group), with the
plan's argv and environment, and dies with the supervisor (``PR_SET_PDEATHSIG``) even if
trtl itself is killed with SIGKILL. A reader thread drains stdout+stderr continuously (a
worker never blocks on a full pipe) into the log file, keeps the last lines for failure
reports and forwards lines to the supervisor; a waiter thread reports the exit.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from profiles.errors import SupervisorError

from .plan import ProcessPlan
from .state import is_same_process

TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Line:
    """A line a process printed."""

    name: str
    text: str


@dataclass(frozen=True)
class Exited:
    """A process ended; ``generation`` tells one incarnation from the next."""

    name: str
    generation: int
    returncode: int


def _load_prctl() -> Callable[..., int] | None:
    # Resolved before any fork: the child may only call it, not look it up.
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died between fork and prctl: then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


class Component:
    """One process of the plan, across restarts."""

    def __init__(
        self,
        plan: ProcessPlan,
        log_path: Path,
        emit: Callable[[object], None],
        env: dict[str, str],
        forward_lines: bool = True,
    ):
        self.plan = plan
        self.name = plan.name
        self.log_path = log_path
        self._emit = emit
        self._env = env
        self._forward = forward_lines
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.create_time: float | None = None
        self.started_at: float | None = None  # monotonic
        self.generation = 0

    def start(self) -> None:
        """Spawn the process. Raises SupervisorError if it cannot be started at all."""
        self.generation += 1
        self.tail.clear()
        log = self.log_path.open("ab", buffering=0)
        log.write(f"--- trtl: starting {self.name} (start #{self.generation})\n".encode())
        try:
            self.proc = subprocess.Popen(
                self.plan.argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as exc:
            log.close()
            raise SupervisorError(
                f"{self.name}: cannot start {self.plan.argv[0]}: {exc.strerror}.",
                hint="Check --python or the profile's python setting.",
            ) from exc
        self.pid = self.proc.pid
        self.started_at = time.monotonic()
        self.create_time = _create_time(self.pid)
        reader = threading.Thread(
            target=self._read, args=(self.proc, log), name=f"read-{self.name}", daemon=True
        )
        reader.start()
        threading.Thread(
            target=self._wait,
            args=(self.proc, reader, self.generation),
            name=f"wait-{self.name}",
            daemon=True,
        ).start()

    def _read(self, proc: subprocess.Popen[bytes], log) -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        partial = b""
        with log:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                log.write(chunk)
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                for raw in lines:
                    self._line(raw)
            if partial:
                self._line(partial)
        proc.stdout.close()

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self.tail.append(text)
        if self._forward:
            self._emit(Line(self.name, text))

    def _wait(self, proc: subprocess.Popen[bytes], reader: threading.Thread, gen: int) -> None:
        returncode = proc.wait()
        # The last lines explain the exit; let the reader finish unless a grandchild
        # keeps the pipe open.
        reader.join(timeout=1.0)
        self._emit(Exited(self.name, gen, returncode))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process group, only if the leader is still our process."""
        if self.pid is None:
            return
        if self.alive or is_same_process(self.pid, self.create_time):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
        else:
            # The leader is gone; members of its group (grandchildren) may remain.
            kill_group_members(self.pid, sig)


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid`` (what is left of one component's tree)."""
    import psutil

    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, OSError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
    return members


def wait_groups_empty(pgids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s until the groups have no live member; return the PIDs left."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pgid in pgids for pid in group_members(pgid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def kill_group_members(pgid: int, sig: int) -> None:
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
