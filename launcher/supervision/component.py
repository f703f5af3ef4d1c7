"""One supervised process: spawn it, drain its output, notice its exit, signal its group.

Each process runs in its own session (so its whole tree is one process group), with the
plan's argv and environment, and dies with the supervisor (``PR_SET_PDEATHSIG``) even if
trtl itself is killed with SIGKILL. A reader thread drains stdout+stderr continuously (a
worker never blocks on a full pipe) into the log file, keeps the last lines for failure
reports and forwards lines to the supervisor, or, once ``deliver_to`` a terminal, hands
them over in batches (a chatty process is then never slowed down by trtl's per-line work);
a waiter thread reports the exit.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from launcher.deployments.process_time import create_time_of
from launcher.deployments.state import is_same_process, open_private_log
from launcher.planning.plan_types import ProcessPlan
from launcher.supervision import pdeath
from profiles.errors import SupervisorError

TAIL_LINES = 40
# A line longer than this without a newline (a progress bar redrawn with \r) is passed on
# in pieces, so a reader never holds more of it.
MAX_LINE = 65536
# Line events of a process the supervisor has not taken yet, once its lines go to the
# terminal in batches (``deliver_to``); the supervisor only scans them, so in a flood it
# may miss some rather than let them pile up.
LINE_EVENT_BACKLOG = 10_000
READ_SIZE = 256 * 1024
PIPE_SIZE = 1024 * 1024  # Linux's default limit for unprivileged processes
READ_NAP = 0.002  # s; lines reach the terminal at most this much later


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


class Component:
    """One process of the plan, across restarts."""

    # Until deliver_to: every line is a Line event for the supervisor.
    _sink: Callable[[str, list[str]], None] | None = None
    _line_events = True

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

    def start(self, watch: bool = True) -> None:
        """Spawn the process. Raises SupervisorError if it cannot be started at all.
        ``watch=False``: leave the threads to ``watch`` (spawning every process first, then
        their threads, starts the processes closer together)."""
        self.generation += 1
        self.tail.clear()
        log = open_private_log(self.log_path)
        log.write(f"--- trtl: starting {self.name} (start #{self.generation})\n".encode())
        try:
            argv, preexec_fn = pdeath.spawn_args(self.plan.argv)
            self.proc = subprocess.Popen(
                argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,  # None: vfork (see pdeath)
            )
        except OSError as exc:
            log.close()
            raise SupervisorError(
                f"{self.name}: cannot start {self.plan.argv[0]}: {exc.strerror}.",
                hint="Check --python or the profile's python setting.",
            ) from exc
        self.pid = self.proc.pid
        self.started_at = time.monotonic()
        self._log = log
        if watch:
            self.watch()

    def watch(self) -> None:
        """Start the threads that drain the output and report the exit."""
        assert self.proc is not None and self.pid is not None
        log, self._log = self._log, None
        self.create_time = create_time_of(self.pid)
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
        # A bigger pipe lets the reader take output in big gulps without ever making the
        # process wait; where that is not allowed, a short nap still fits in 64 KiB.
        nap = READ_NAP if _grow_pipe(fd) else READ_NAP / 4
        partial = b""
        with log:
            while True:
                chunk = os.read(fd, READ_SIZE)
                if not chunk:
                    break
                log.write(chunk)
                data = partial + chunk
                end = data.rfind(b"\n")
                if end < 0:
                    if len(data) >= MAX_LINE:  # a progress bar redrawn with \r, say
                        self._lines(data)
                        data = b""
                    partial = data
                    continue
                partial = data[end + 1 :]
                self._lines(data[:end])
                if len(chunk) < READ_SIZE // 16:
                    # A line or a few: let more gather, so a flood is read (and written to
                    # the log and the terminal) in big chunks rather than line by line.
                    time.sleep(nap)
            if partial:
                self._lines(partial)
        proc.stdout.close()

    def _lines(self, block: bytes) -> None:
        """Whole lines, newline-separated: into the tail, and on to the terminal."""
        texts = block.decode("utf-8", "replace").split("\n")
        if b"\r" in block:
            texts = [text.rstrip("\r") for text in texts]
        self.tail.extend(texts[-TAIL_LINES:])
        if not self._forward:
            return
        if self._sink is None:
            for text in texts:
                self._emit(Line(self.name, text))
            return
        # A chunk's lines go to the terminal in one call, whatever their number.
        self._sink(self.name, texts)
        if self._line_events:
            with self._unacked_lock:
                room = max(0, LINE_EVENT_BACKLOG - self._unacked)
                self._unacked += min(room, len(texts))
            for text in texts[:room]:
                self._emit(Line(self.name, text))

    def deliver_to(self, sink: Callable[[str, list[str]], None], line_events: bool) -> None:
        """Hand lines to ``sink`` in batches instead of one Line event each; with
        ``line_events``, the supervisor still gets Line events, at most LINE_EVENT_BACKLOG
        it has not acknowledged (``acknowledge``); more are not sent."""
        self._unacked_lock = threading.Lock()
        self._unacked = 0
        self._line_events = line_events
        self._sink = sink

    def acknowledge(self) -> None:
        """The supervisor took one of the Line events."""
        with self._unacked_lock:
            self._unacked -= 1

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


def _grow_pipe(fd: int) -> bool:
    """Make the pipe behind ``fd`` hold PIPE_SIZE bytes; False where that is not possible."""
    try:
        import fcntl

        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE) >= PIPE_SIZE
    except (ImportError, AttributeError, OSError):
        return False


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
