"""One supervised process: spawn it, follow its output, notice its exit, signal its group.

Each process leads its own process group (its whole tree is signalled as one; see pdeath), with the
plan's argv and environment, and dies with the supervisor (``PR_SET_PDEATHSIG``) even if
trtl itself is killed with SIGKILL. Its stdout and stderr are its log file itself
(``O_APPEND``): what it prints never waits for trtl, so a supervisor that is stopped
(Ctrl-Z, SIGSTOP), slow or busy never makes serving wait, and a full disk costs the
process its log lines only (Dynamo and Python's logging drop a line they cannot write and
go on). A tail thread follows the file: it keeps the last lines for failure reports and
forwards lines to the supervisor or, once ``deliver_to`` a terminal, hands them over in
batches; it also keeps the file within its size limit (``log_rotation``). A waiter thread
reports the exit.
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

from trtl.launcher.deployments.child_settings import start_marker
from trtl.launcher.deployments.process_time import create_time_of
from trtl.launcher.deployments.state import is_same_process, open_private_log
from trtl.launcher.planning.plan_types import ProcessPlan
from trtl.launcher.supervision import pdeath
from trtl.launcher.supervision.log_rotation import DiskWatch, LogFile, LogLimits
from trtl.launcher.supervision.pdeath import Spawned
from trtl.launcher.supervision.yielding import yield_cpu
from trtl.profiles.errors import SupervisorError

TAIL_LINES = 40
# A line longer than this without a newline (a progress bar redrawn with \r) is passed on
# in pieces, so a reader never holds more of it.
MAX_LINE = 65536
# Line events of a process the supervisor has not taken yet, once its lines go to the
# terminal in batches (``deliver_to``); the supervisor only scans them, so in a flood it
# may miss some rather than let them pile up.
LINE_EVENT_BACKLOG = 10_000
READ_SIZE = 256 * 1024
READ_NAP = 0.002  # s; after a few lines, let more gather so a flood is read in big chunks
# s; a quiet log file is looked at again after IDLE_NAP, doubling up to IDLE_NAP_MAX while
# it stays quiet (an idle deployment then costs next to no CPU); new output resets it.
IDLE_NAP = 0.02
IDLE_NAP_MAX = 0.5
DISK_CHECK_EVERY = 2.0  # s


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
    # Set before start (``trtl up --log-size/--log-files``).
    limits = LogLimits()

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
        self.proc: Spawned | subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.create_time: float | None = None
        self.started_at: float | None = None  # monotonic
        self.generation = 0
        self._offset = 0  # where the current start's output begins in the log file

    def start(self, watch: bool = True) -> None:
        """Spawn the process. Raises SupervisorError if it cannot be started at all.
        ``watch=False``: leave the threads to ``watch`` (spawning every process first, then
        their threads, starts the processes closer together)."""
        self.generation += 1
        self.tail.clear()
        log = open_private_log(self.log_path)
        # Where this start's output begins: the tail thread reads from here on.
        with contextlib.suppress(OSError):  # a full disk: the marker is not worth a failure
            log.write(start_marker(self.name, self.generation))
        offset = os.fstat(log.fileno()).st_size
        try:
            with log:
                self.proc = pdeath.spawn(self.plan.argv, self._env, log.fileno())
        except OSError as exc:
            raise SupervisorError(
                f"{self.name}: cannot start {self.plan.argv[0]}: {exc.strerror}.",
                hint="Check --python or the profile's python setting.",
            ) from exc
        self.pid = self.proc.pid
        self.started_at = time.monotonic()
        self._offset = offset
        if watch:
            self.watch()

    def adopt(
        self, proc: Spawned | subprocess.Popen[bytes], offset: int, started_at: float
    ) -> None:
        """Take over its first start, which ``early_start`` made (log marker written,
        output from ``offset`` on); ``watch`` follows it from there."""
        self.generation = 1
        self.tail.clear()
        self.proc, self.pid = proc, proc.pid
        self.started_at = started_at
        self._offset = offset

    def watch(self) -> None:
        """Start the threads that follow the log file and report the exit."""
        assert self.proc is not None and self.pid is not None
        offset = self._offset
        self.create_time = create_time_of(self.pid)
        exited = threading.Event()
        reader = threading.Thread(
            target=self._follow, args=(offset, exited), name=f"read-{self.name}", daemon=True
        )
        reader.start()
        threading.Thread(
            target=self._wait,
            args=(self.proc, reader, exited, self.generation),
            name=f"wait-{self.name}",
            daemon=True,
        ).start()

    def _follow(self, offset: int, exited: threading.Event) -> None:
        """Follow the log file from ``offset`` until the process exited and all is read."""
        yield_cpu()  # the processes first (yielding.py)
        partial = b""
        disk = DiskWatch(self.log_path.parent)
        checked = time.monotonic()
        try:
            log = open(self.log_path, "rb", buffering=0)  # noqa: SIM115 (closed below)
            keeper = LogFile(self.log_path)
        except OSError:
            return  # removed already: the process writes on, trtl shows nothing of it
        idle = IDLE_NAP
        room = True
        with log, contextlib.closing(keeper):
            while True:
                done = exited.is_set()  # before the read: nothing written after it is missed
                chunk = os.pread(log.fileno(), READ_SIZE, offset)
                if not chunk and offset > os.fstat(log.fileno()).st_size:
                    offset = keeper.base = keeper.reserved_to = 0  # truncated: start over
                    continue
                offset += len(chunk)
                if chunk:
                    idle = IDLE_NAP
                partial = self._take(partial, chunk)
                if offset - keeper.base >= self.limits.max_bytes:
                    partial, offset = self._rotate(keeper, partial, offset, disk)
                if chunk or room:
                    room, offset = self._make_room(keeper, offset, disk)
                if time.monotonic() - checked >= DISK_CHECK_EVERY:
                    checked = time.monotonic()
                    if note := disk.check():
                        self.note(note)
                if chunk and len(chunk) >= READ_SIZE // 16:
                    continue
                if not chunk and done:
                    break
                if chunk:
                    # A line or a few: let more gather, so a flood is read (and written to
                    # the terminal) in big chunks rather than line by line.
                    time.sleep(READ_NAP)
                else:
                    exited.wait(idle)  # woken at once by the exit, to read the last lines
                    idle = min(idle * 2, IDLE_NAP_MAX)
        if partial:
            self._lines(partial)

    @staticmethod
    def _make_room(keeper: LogFile, offset: int, disk: DiskWatch) -> tuple[bool, int]:
        """Keep the log's reserve (see log_rotation); on a full disk, drop what was read to
        make room. Returns (whether the reserve is whole, the reader's offset)."""
        if keeper.keep_reserve():
            return True, offset
        disk.mark_full()
        if keeper.reserve_spent():
            disk.starved = True  # trtl came too late: the process may have found no room
        with contextlib.suppress(OSError):
            offset, dropped = keeper.drop(offset)
            disk.dropped.add(dropped)
        return keeper.keep_reserve(), offset

    def _rotate(
        self, keeper: LogFile, partial: bytes, offset: int, disk: DiskWatch
    ) -> tuple[bytes, int]:
        """Rotate the log; what was written after ``offset`` is read on the way."""
        pending = [partial]

        def unread(piece: bytes) -> None:
            pending[0] = self._take(pending[0], piece)

        try:
            offset, dropped = keeper.rotate(self.log_path, self.limits.keep, offset, unread)
        except OSError:
            return pending[0], offset  # not now; the next read tries again
        if dropped is not None:
            disk.mark_full()
            disk.dropped.add(dropped)
            self.note(
                f"the copy to {self.log_path.name}.1 failed (the disk is full): "
                f"{dropped.lines} lines are dropped"
            )
        return pending[0], offset

    def _take(self, partial: bytes, chunk: bytes) -> bytes:
        """Pass on the whole lines of ``partial + chunk``; return what is left of a line."""
        if not chunk:
            return partial
        data = partial + chunk
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= MAX_LINE:  # a progress bar redrawn with \r, say
                self._lines(data)
                return b""
            return data
        self._lines(data[:end])
        return data[end + 1 :]

    def note(self, text: str) -> None:
        """A line of trtl's own in the process's log (shown with its lines)."""
        with contextlib.suppress(OSError), open_private_log(self.log_path) as log:
            log.write(f"--- trtl: {text}\n".encode())

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

    def _wait(
        self,
        proc: Spawned | subprocess.Popen[bytes],
        reader: threading.Thread,
        exited: threading.Event,
        gen: int,
    ) -> None:
        returncode = proc.wait()
        exited.set()
        # The last lines explain the exit: let the reader take them first.
        reader.join(timeout=2.0)
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
