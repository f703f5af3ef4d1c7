"""``trtl down`` of a start that has not claimed its name yet.

A ``trtl up`` (also ``-d``) claims the deployment's name (its lock) only after it read its
profile and planned: the first fraction of a second, seconds on a loaded machine. A
``trtl down`` in that window finds no lock and no state, yet the start goes on. So:

* ``down`` lists the ``trtl up`` processes that were started before it (by the same user,
  with the same state root) and may start its deployment: ``--name NAME``, or no
  ``--name`` (the profile decides the name). Where there are any, it writes a stop request
  (``stop.request.PID``: its own pid and start time; one file per ``down``, as two may run
  at once) into the run directory, and only then looks at the lock.
* ``claim`` (every start: foreground, ``-d``, the cached path) looks for a request right
  after it took the lock. One whose ``down`` still runs and started no earlier than this
  process cancels the start before anything was checked or spawned; the start adds its
  pid to ``stop.cancelled`` so ``down`` can say which start it stopped.
* ``down`` waits until each such ``trtl up`` has ended or got past its claim (it holds a
  lock, or its detached supervisor runs); a start of its deployment that got past its
  claim before the request was written holds the lock, so ``down`` stops it as usual.

Why this cannot miss: the request is written before ``down`` reads the lock, and a start
reads the request after it took the lock. Either the start took the lock first (``down``
then sees it holding the lock, or its supervisor), or it reads the request (and cancels).
One rule decides which starts a ``down`` waits for and which obey its request,
``begun_before``: the start's start tick is no later than the ``down``'s, both read with
``create_time_of`` (the same clock and the same sum on both sides, so they compare
exactly). A start begun in the same tick counts as begun before, and is cancelled; one begun
a tick later goes its way, and ``down`` does not wait for it. A request whose ``down`` is
gone is ignored. Only a Python running the ``trtl`` script (or ``-m trtl.launcher``) is a
start: a wrapper such as ``timeout 200 trtl up`` never claims a name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from trtl.launcher.deployments.paths import RunDir

if TYPE_CHECKING:
    import psutil

REQUEST_FILE = "stop.request"
CANCELLED_FILE = "stop.cancelled"


def post(run_dir: RunDir) -> None:
    """Ask every start of the deployment begun before this process to cancel itself."""
    from trtl.launcher.deployments.process_time import create_time_of
    from trtl.launcher.deployments.state import make_private_dir

    make_private_dir(run_dir.root)
    me = os.getpid()
    tmp = run_dir.root / f".{REQUEST_FILE}.{me}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, f"{me} {create_time_of(me)}\n".encode())
    finally:
        os.close(fd)
    # One file per `down` (two may run at once): the end of one never takes back the
    # other's request. Atomic: a start never reads half of it.
    tmp.replace(run_dir.root / f"{REQUEST_FILE}.{me}")


def withdraw(run_dir: RunDir) -> None:
    """Remove this ``down``'s request (and those of ``down``s that are gone); the list of
    cancelled starts goes with the last request."""
    with contextlib.suppress(OSError):
        (run_dir.root / f"{REQUEST_FILE}.{os.getpid()}").unlink()
    if not _requests(run_dir):
        with contextlib.suppress(OSError):
            (run_dir.root / CANCELLED_FILE).unlink()


def _requests(run_dir: RunDir) -> list[int]:
    """The pids of the ``trtl down``s whose requests are there and that still run; the
    requests of those that are gone are removed."""
    from trtl.launcher.deployments.state import is_same_process

    live = []
    for path in run_dir.root.glob(f"{REQUEST_FILE}.*"):
        try:
            fields = path.read_text().split()
            pid, started = int(fields[0]), float(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # being written, or not ours to judge
        if is_same_process(pid, started):
            live.append(pid)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return live


def requester(run_dir: RunDir) -> int | None:
    """The pid of a running ``trtl down`` that asked this start to cancel, or None."""
    from trtl.launcher.deployments.process_time import create_time_of
    from trtl.launcher.deployments.state import is_same_process

    paths = list(run_dir.root.glob(f"{REQUEST_FILE}.*"))
    if not paths:
        return None  # the common case: no request at all
    mine = create_time_of(os.getpid())
    for path in paths:
        try:
            fields = path.read_text().split()
            pid, started = int(fields[0]), float(fields[1])
        except (OSError, ValueError, IndexError):
            continue
        if begun_before(mine, started) and is_same_process(pid, started):
            return pid
    return None


def begun_before(start: float | None, down: float | None) -> bool:
    """Whether a start begun at ``start`` is one a ``down`` begun at ``down`` stops (both
    from ``create_time_of``): the one rule of both sides. The same tick counts as before."""
    return start is not None and down is not None and start <= down


def record_cancelled(run_dir: RunDir) -> None:
    """Say, for ``down``, that this start was cancelled by its request."""
    with contextlib.suppress(OSError):
        fd = os.open(run_dir.root / CANCELLED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)


def cancelled(run_dir: RunDir) -> set[int]:
    """The pids of the starts that cancelled themselves on this ``down``'s request."""
    try:
        return {int(line) for line in (run_dir.root / CANCELLED_FILE).read_text().split()}
    except (OSError, ValueError):
        return set()


def early_starters(name: str | None, run_dir: RunDir | None) -> list[psutil.Process]:
    """``trtl up`` processes of this user and state root, started no later than this one,
    that may start ``name`` (None: any name) and have not got past their claim yet (with
    no ``run_dir``: every one, claimed or not)."""
    import psutil
    from trtl.launcher.deployments.paths import state_home
    from trtl.launcher.deployments.process_time import create_time_of

    me = os.getpid()
    mine = create_time_of(me)
    root = state_home()
    found = []
    for proc in psutil.process_iter(["pid", "uids", "cmdline"]):
        info = proc.info
        if proc.pid == me or not info["cmdline"] or info["uids"] is None:
            continue
        if info["uids"].real != os.getuid() or not _may_start(info["cmdline"], name):
            continue
        # The start's own clock (`requester`): psutil's create_time may differ in the last bit.
        if not begun_before(create_time_of(proc.pid), mine):
            continue
        with contextlib.suppress(psutil.Error):
            if state_home(proc.environ()) != root:
                continue
            if run_dir is None or not past_claim(proc, run_dir):
                found.append(proc)
    return found


def claimed_names(starters: list[psutil.Process], timeout: float) -> set[str] | None:
    """Wait until each ``trtl up`` has ended or holds a deployment's lock (itself, or the
    detached supervisor it started); return the names of the deployments they hold, or
    None if one has claimed nothing after ``timeout`` seconds.

    For ``trtl down`` without a name: a start that has not claimed its name yet is one of
    the running deployments, whose name only it knows (its profile decides)."""
    import time

    names: set[str] = set()
    deadline = time.monotonic() + timeout
    while starters:
        pending = []
        for proc in starters:
            locks = _locks_held(proc)
            if locks is None:
                continue
            if locks:
                names.update(lock.parent.name for lock in locks)
            else:
                pending.append(proc)
        starters = pending
        if starters:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
    return names


def _locks_held(proc: psutil.Process) -> list[Path] | None:
    """The lock files ``proc`` or its detached supervisor holds; None once it ended."""
    import psutil
    from trtl.launcher.deployments.lock import LOCK_FILE

    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        procs = [proc, *(c for c in proc.children() if "--supervise" in c.cmdline())]
        return [
            Path(f.path) for p in procs for f in p.open_files() if Path(f.path).name == LOCK_FILE
        ]
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        return []


def _may_start(cmdline: list[str], name: str | None) -> bool:
    """A ``trtl up`` command line (console script or ``-m trtl.launcher``) that starts
    ``name``, or does not say which name (its profile decides); not the detached supervisor."""
    args = _trtl_args(cmdline)
    if not args or args[0] != "up" or "--supervise" in args:
        return False
    if name is None:
        return True
    given = None  # the last --name counts, as for click
    for i, arg in enumerate(args):
        if arg == "--name" and i + 1 < len(args):
            given = args[i + 1]
        elif arg.startswith("--name="):
            given = arg.removeprefix("--name=")
    return given is None or given == name


def past_claim(proc: psutil.Process, run_dir: RunDir) -> bool:
    """True when ``proc`` ended, holds another deployment's lock, or runs a detached
    supervisor (``trtl up -d`` hands the lock to it): it no longer reads this request.

    One holding this deployment's lock is not past it: it took the lock before the request
    was written (``down`` stops it through the lock) or is reading the request now."""
    import psutil
    from trtl.launcher.deployments.lock import LOCK_FILE

    ours = run_dir.root / LOCK_FILE
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        locks = [Path(f.path) for f in proc.open_files() if Path(f.path).name == LOCK_FILE]
        if any(lock != ours for lock in locks):
            return True
        return any("--supervise" in child.cmdline() for child in proc.children())
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


# Python's options that take the next argument as their value.
_VALUE_OPTIONS = {"-W", "-X", "--check-hash-based-pycs"}


def _trtl_args(cmdline: list[str]) -> list[str] | None:
    """The arguments of ``trtl`` when ``cmdline`` is trtl itself: a Python running the
    ``trtl`` script or ``-m trtl.launcher`` (its first argument after the interpreter's
    options), or a ``trtl`` executable. None for anything else, such as a wrapper
    (``timeout 200 trtl up``, ``uv run trtl up``) that only starts one."""
    first = os.path.basename(cmdline[0])
    if first == "trtl":
        return cmdline[1:]
    if not first.startswith("python"):
        return None
    i = 1
    while i < len(cmdline) and cmdline[i].startswith("-"):
        if cmdline[i] == "-m":
            module = cmdline[i + 1 : i + 2]
            return cmdline[i + 2 :] if module == ["trtl.launcher"] else None
        if cmdline[i] == "-c":
            return None
        i += 2 if cmdline[i] in _VALUE_OPTIONS else 1
    if i < len(cmdline) and os.path.basename(cmdline[i]) == "trtl":
        return cmdline[i + 1 :]
    return None
