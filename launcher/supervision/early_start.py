"""A repeated ``trtl up``: every process spawned from the cached plan's JSON, first thing.

Before a process of a repeated, unchanged ``trtl up`` runs, trtl has paid its interpreter
and what it imports; a bare launch pays neither. So the console script, holding the
cached plan as raw JSON (``planning.plan_key``), spawns every process from here with only
built-in modules loaded, and only then imports the supervisor, which adopts the running
processes (``Supervisor.adopt``). The checks of the cached path run first, in its order,
on the raw plan: the disk has room, the claim on the name (the lock, its holder written),
the graph-size limit, every port free, nothing left by an earlier run; then the run
directory is prepared and each process started as ``Component.start`` does (the same log
start line, environment and parent-death wrapper, ``pdeath.spawn``). Any doubt (a check
that fails, a plan with engine config files to write, anything unreadable) returns None
before anything was started, and the command takes its ordinary path, which says why.
"""

from __future__ import annotations

import _socket
import fcntl
import os
import time

from trtl.launcher.deployments.child_settings import base_env, process_env, start_marker
from trtl.launcher.deployments.process_time import create_time_of
from trtl.launcher.deployments.set_aside import set_aside
from trtl.launcher.planning.limits import process_limit
from trtl.launcher.planning.plan_key import loads, state_root
from trtl.launcher.supervision import pdeath

TYPE_CHECKING = False  # not typing's: it would cost the first spawn milliseconds
if TYPE_CHECKING:
    from subprocess import Popen

    from trtl.launcher.supervision.pdeath import Spawned

# The names the heavier modules define (lock.py, state.py, running.py); a test holds them equal.
LOCK_FILE = "supervisor.lock"
STOP_REQUEST_PREFIX = "stop.request."
SUPERVISOR_ROLE = "supervisor"
STATE_FILE = "state.json"
ENDED_STATES = ("stopped", "failed")
MIN_FREE = 8 * 2**20  # bytes; below this the disk of the run directory counts as full


class EarlyStart:
    """The processes spawned, by name: (process, log offset of this start, monotonic time
    of the spawn); and the lock on the name, held (its descriptor)."""

    def __init__(self, lock_fd: int, started: dict[str, tuple[Spawned | Popen[bytes], int, float]]):
        self.lock_fd = lock_fd
        self.started = started

    def abandon(self) -> None:
        """Kill what was started and give the name back (the cached plan turned out
        unusable after all)."""
        _kill([proc for proc, _, _ in self.started.values()])
        os.close(self.lock_fd)


def start(entry: dict) -> EarlyStart | None:
    """Spawn every process of the cached ``entry``'s plan; None (nothing started, nothing
    held) when any check fails or anything is in doubt."""
    try:
        plan = entry["plan"]
        root = str(plan["run_dir"])
        jobs = [
            (str(p["name"]), str(p["role"]), [str(a) for a in p["argv"]], dict(p["env"]),
             dict(p["ports"]))
            for p in plan["processes"]
        ]  # fmt: skip
        if plan["files"] or not jobs:
            return None  # engine configs are written as YAML: the ordinary path does that
        if not _disk_has_room(root) or len(jobs) > process_limit(available_mib=_available_mib())[0]:
            return None
    except (KeyError, TypeError, ValueError, OSError):
        return None
    lock_fd = _claim(root)
    if lock_fd is None:
        return None
    try:
        if _stop_requested(root) or not ports_free(jobs) or _may_have_left(root):
            os.close(lock_fd)
            return None
        _prepare_run_dir(root)
    except OSError:
        os.close(lock_fd)
        return None
    base = base_env(dict(os.environ))
    started: dict[str, tuple[Spawned | Popen[bytes], int, float]] = {}
    try:
        for name, role, argv, env, _ in jobs:
            started[name] = _spawn(root, name, argv, process_env(base, role, env))
    except OSError:
        # A program that cannot run: the ordinary path starts again and names it.
        _kill([proc for proc, _, _ in started.values()])
        os.close(lock_fd)
        return None
    return EarlyStart(lock_fd, started)


def _spawn(
    root: str, name: str, argv: list[str], env: dict[str, str]
) -> tuple[Spawned | Popen[bytes], int, float]:
    """One process's first start, as ``Component.start`` makes it."""
    path = os.path.join(root, "logs", f"{name}.log")
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(log, 0o600)
        try:  # noqa: SIM105 - contextlib (collections, functools) is not loaded yet
            os.write(log, start_marker(name, 1))
        except OSError:
            pass  # a full disk: the marker is not worth a failure
        offset = os.fstat(log).st_size
        proc = pdeath.spawn(argv, env, log, wait_exec=False)  # no thread runs yet
    finally:
        os.close(log)
    return proc, offset, time.monotonic()


def _kill(procs: list[Spawned | Popen[bytes]]) -> None:
    for proc in procs:
        try:  # noqa: SIM105
            os.killpg(proc.pid, 9)
        except OSError:
            pass
        proc.wait()


# --- the checks, as the ordinary path makes them ------------------------------------------------


def _disk_has_room(root: str) -> bool:
    """``running.check_disk``: room for the state and the logs."""
    where = root if os.path.exists(root) else state_root()
    while not os.path.exists(where) and where != os.path.dirname(where):
        where = os.path.dirname(where)
    try:
        st = os.statvfs(where)
    except OSError:
        return True  # as check_disk: a disk it cannot ask about is not refused
    return st.f_bavail * st.f_frsize >= MIN_FREE


def _available_mib() -> int:
    """psutil's ``virtual_memory().available`` on Linux (MemAvailable), without psutil."""
    with open("/proc/meminfo", "rb") as handle:
        for line in handle:
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1]) // 1024
    raise ValueError("no MemAvailable in /proc/meminfo")


def _claim(root: str) -> int | None:
    """``DeploymentLock.acquire``: the lock's descriptor, its holder written; None if taken."""
    try:
        _private_dir(root)
        fd = os.open(os.path.join(root, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        me = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{me} {create_time_of(me)} {SUPERVISOR_ROLE}\n".encode(), 0)
    except OSError:
        os.close(fd)
        return None
    return fd


def _stop_requested(root: str) -> bool:
    """A ``trtl down`` may have asked this start to cancel (``stop_request``): the
    ordinary path judges the request, cancels and says so."""
    return any(n.startswith(STOP_REQUEST_PREFIX) for n in os.listdir(root))


def ports_free(jobs: list[tuple[str, str, list[str], dict, dict]]) -> bool:
    """Every port of the plan can be bound now, on the host its process binds."""
    for _, _, argv, env, ports in jobs:
        for kind, port in ports.items():
            host = _flag(argv, "--http-host") if kind == "http" else None
            host = host or env.get("DYN_SYSTEM_HOST") or "127.0.0.1"
            sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            try:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                sock.bind((host, int(port)))
            except OSError:
                return False
            finally:
                sock.close()
    return True


def _flag(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv[:-1]):
        if arg == flag:
            return argv[i + 1]
    return None


def _may_have_left(root: str) -> bool:
    """``running._may_have_left``: the last run never recorded its end, or one of its
    processes still runs (or its state cannot be read: the ordinary path sorts that out)."""
    try:
        with open(os.path.join(root, STATE_FILE), encoding="utf-8") as handle:
            previous = loads(handle.read())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    try:
        if previous["state"] not in ENDED_STATES:
            return True
        return any(
            p.get("pid") and os.path.exists(f"/proc/{int(p['pid'])}") for p in previous["processes"]
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return True


# --- the run directory, as run_setup.prepare_run_dir makes it -----------------------------------


def _prepare_run_dir(root: str) -> None:
    """A fresh discovery dir and logs dir (the last run's logs become the previous ones);
    the old ones set aside, as the ordinary path does."""
    discovery, logs = os.path.join(root, "discovery"), os.path.join(root, "logs")
    previous = os.path.join(root, "logs.previous")
    _private_dir(root)
    set_aside(root, discovery)
    if os.path.exists(logs):
        set_aside(root, previous)
        os.rename(logs, previous)
    for path in (discovery, logs, os.path.join(root, "engine")):
        _private_dir(path)


def _private_dir(path: str) -> None:
    """``state.make_private_dir``: ``path`` and the state root readable by the user only."""
    state = state_root()
    if path == state or path.startswith(state + os.sep):
        os.makedirs(state, 0o700, exist_ok=True)
        os.chmod(state, 0o700)
    os.makedirs(path, 0o700, exist_ok=True)
    os.chmod(path, 0o700)
