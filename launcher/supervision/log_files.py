"""Reading the per-process log files of a deployment for ``trtl logs``."""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from pathlib import Path

from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.run_setup import SUPERVISOR_LOG
from trtl.launcher.deployments.state import (
    ACTIVE_STATES,
    DeploymentState,
    find_deployment,
    list_states,
)
from trtl.launcher.supervision.log_rotation import first_data, rotated
from trtl.launcher.supervision.logmux import LogMux
from trtl.profiles.errors import SupervisorError

FOLLOW_INTERVAL = 0.2
SUPERVISOR = "supervisor"  # `trtl logs NAME supervisor`: the background supervisor's log
MAX_ROTATED = 100  # the most older copies `trtl up --log-files` keeps


def pick_logs(names: tuple[str, ...], previous: bool = False) -> tuple[str, dict[str, Path]]:
    """Resolve ``[NAME] [PROCESS]`` to the deployment and its log files by process name
    (of the run before the current one with ``previous``).

    Raises SupervisorError."""
    if len(names) > 2:
        raise SupervisorError("trtl logs takes at most a deployment and a process name.")
    deployments = {s.deployment for s in list_states()}
    if names and names[0] in deployments:
        state, wanted = find_deployment(names[0]), names[1:]
    else:
        if len(names) == 2:
            raise SupervisorError(
                f"no deployment named {names[0]!r} has run here.", hint="`trtl ps` lists them."
            )
        state, wanted = find_deployment(None), names
    which = wanted[0] if wanted else None
    if previous:
        return state.deployment, _select_previous(state, which)
    return state.deployment, select_logs(state, which)


def _select_previous(state: DeploymentState, which: str | None) -> dict[str, Path]:
    logs = RunDir(Path(state.run_dir)).previous_logs
    found = {path.name.removesuffix(".log"): path for path in sorted(logs.glob("*.log"))}
    if not found:
        raise SupervisorError(
            f"{state.deployment!r} has no logs of a previous run.",
            hint="They are kept from the second `trtl up` of a deployment on.",
        )
    roles = {p.name: p.role for p in state.processes}
    chosen = {n: path for n, path in found.items() if which in (None, n, roles.get(n))}
    if not chosen:
        raise SupervisorError(
            f"the previous run of {state.deployment!r} has no process or role {which!r}.",
            hint=f"It had: {', '.join(found)}.",
        )
    return chosen


def select_logs(state: DeploymentState, which: str | None) -> dict[str, Path]:
    """The log file of each process of ``state`` named ``which`` or of that role (every
    process with None). Raises SupervisorError naming the processes there are."""
    logs = RunDir(Path(state.run_dir)).logs
    supervisor_log = Path(state.run_dir) / SUPERVISOR_LOG
    if which == SUPERVISOR and supervisor_log.exists():  # `trtl up -d`'s own output
        return {SUPERVISOR: supervisor_log}
    chosen = [p for p in state.processes if which in (None, p.name, p.role)]
    if not chosen:
        names = ", ".join(
            [p.name for p in state.processes] + [SUPERVISOR] * supervisor_log.exists()
        )
        raise SupervisorError(
            f"{state.deployment!r} has no process or role {which!r}.", hint=f"It has: {names}."
        )
    return {p.name: logs / f"{p.name}.log" for p in chosen}


def show_logs(
    files: dict[str, Path], *, count: int, follow: bool, deployment: str | None = None
) -> None:
    """Print the last ``count`` lines of each file, then new lines while ``follow``: until
    Ctrl-C, or until ``deployment`` is no longer running."""
    mux = LogMux(list(files))
    followers = {}
    for name, path in files.items():
        # Taken before the tail is read: a rotation meanwhile is then seen as new.
        copy, base = _newest_copy(path), _first_data(path)
        tail, offset = _last_lines(path, count)
        followers[name] = _Follower(path, offset, base, copy)
        for text in tail:
            mux.line(name, text)
    _end_if_unread(mux)
    if not follow:
        return
    with contextlib.suppress(KeyboardInterrupt):
        running = True
        while running:
            running = deployment is None or _running(deployment)
            for name, follower in followers.items():
                for raw in follower.read():
                    mux.line(name, raw.decode("utf-8", "replace"))
            _end_if_unread(mux)
            time.sleep(FOLLOW_INTERVAL if running else 0)
        print(f"{deployment} is no longer running", file=sys.stderr)


def _end_if_unread(mux: LogMux) -> None:
    """``trtl logs -f | head -1``: once the reader is gone, following has no one to serve;
    the CLI ends quietly on a closed pipe."""
    if mux.broken:
        raise BrokenPipeError("the output's reader is gone")


def _last_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of ``path``, from its rotated copies too where it holds
    fewer (``NAME.log.1`` is the newest copy); and the size of ``path`` read."""
    found, size = read_tail(path, count)
    for index in range(1, MAX_ROTATED + 1):
        older = rotated(path, index)
        if len(found) >= count or not older.exists():
            break
        found = read_tail(older, count - len(found))[0] + found
    return found, size


def read_tail(path: Path, count: int | None) -> tuple[list[str], int]:
    """The last ``count`` lines of ``path`` (all with None), and its size; none if missing."""
    tail: collections.deque[str] = collections.deque(maxlen=count)
    try:
        with path.open("rb") as log:
            log.seek(first_data(log.fileno()))  # past the hole a rotation may have punched
            for raw in log:
                tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
            return list(tail), log.tell()
    except FileNotFoundError:
        return [], 0


def _running(deployment: str) -> bool:
    try:
        state = find_deployment(deployment)
    except SupervisorError:
        return False
    return state.state in ACTIVE_STATES


def _newest_copy(path: Path) -> int | None:
    """The inode of ``NAME.log.1``: each rotation writes a new one (older ones are renamed)."""
    try:
        return rotated(path, 1).stat().st_ino
    except OSError:
        return None


def _first_data(path: Path) -> int:
    try:
        with path.open("rb") as log:
            return first_data(log.fileno())
    except OSError:
        return 0


class _Follower:
    """New lines of one log file, across rotations.

    A rotation copies the file's data from its first byte to ``NAME.log.1`` and then removes
    that range in place: by moving the rest down (``COLLAPSE_RANGE``: offsets change) or by
    punching a hole (they do not). So the follower counts in the log's whole stream of
    bytes: the copies made since its last read hold the stream from where the file's data
    began then, one after the other, and the file's data now begins where they end."""

    def __init__(self, path: Path, offset: int, base: int, copy: int | None):
        self.path = path
        self.offset, self.base, self.copy = offset, base, copy  # as of the last read
        self.partial = b""

    def read(self) -> list[bytes]:
        for _ in range(5):  # a rotation while reading: read again
            got = self._read()
            if got is not None:
                break
        else:
            got = (self.offset, self.base, self.copy, b"")
        self.offset, self.base, self.copy, data = got
        *lines, self.partial = (self.partial + data).split(b"\n")
        return lines

    def _read(self) -> tuple[int, int, int | None, bytes] | None:
        """(offset, base, newest copy, the bytes read), or None if a rotation interfered."""
        before = _newest_copy(self.path)
        copies = self._new_copies()
        position = self.offset - self.base  # in the stream, from the base of the last read
        chunks, start = [], 0
        for copy in copies:
            size = copy.stat().st_size
            if position < start + size:
                with copy.open("rb") as older:
                    older.seek(max(0, position - start))
                    chunks.append(older.read())
            start += size
        try:
            log = self.path.open("rb")
        except FileNotFoundError:
            return 0, 0, None, b""
        with log:
            base = first_data(log.fileno())
            if not copies and (log.seek(0, 2) < self.offset or base > self.offset):
                # Cut without a copy (no older files kept, or a full disk): go on from the
                # data that is left.
                position, start = base - self.base, base - self.base
            log.seek(base + max(0, position - start))
            chunks.append(log.read())
            offset = log.tell()
        newest = _newest_copy(self.path)
        if newest != before:  # (the copies may also have been removed: that is no rotation)
            return None
        return offset, base, newest, b"".join(chunks)

    def _new_copies(self) -> list[Path]:
        """The copies written since the last read, oldest first."""
        found = []
        for index in range(1, MAX_ROTATED + 1):
            copy = rotated(self.path, index)
            inode = self._inode(copy)
            if inode is None or inode == self.copy:
                break
            found.append(copy)
        return found[::-1]

    @staticmethod
    def _inode(path: Path) -> int | None:
        try:
            return path.stat().st_ino
        except OSError:
            return None
