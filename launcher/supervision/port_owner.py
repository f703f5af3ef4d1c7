"""Who listens on a port: so trtl believes only health answers from the processes it started.

Another local program (or user) can bind a worker's status port before the worker does;
Dynamo then runs on without its status server, and every answer on that port comes from
the other program. psutil maps a listening socket to its process (for another user's
socket it cannot, which is just as telling: not ours). That scan reads the descriptors of
every process of the machine (20-60 ms of CPU on a busy one, while the graph starts), so
the usual case is answered first from the kernel's socket table and the descriptors of
the process's own tree only (``held_by_tree``).
"""

from __future__ import annotations

import contextlib
import os


def listeners(port: int) -> list[int | None]:
    """PIDs of the processes listening on TCP ``port`` (None: a process trtl may not see)."""
    import psutil

    found = []
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                found.append(conn.pid)
    return found


def held_by_tree(port: int, root: int) -> bool:
    """True when a socket listening on TCP ``port`` is open in ``root`` or a descendant of
    it (False: not found there; ``listeners`` then tells who holds it)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    seen: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        folder = f"/proc/{pid}/fd"
        with contextlib.suppress(OSError):
            for fd in os.listdir(folder):
                with contextlib.suppress(OSError):
                    if os.readlink(f"{folder}/{fd}") in wanted:
                        return True
        todo += _children(pid)
    return False


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, "rb") as handle:
            next(handle, None)  # the header
            for line in handle:
                fields = line.split()
                # local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is field 9
                listening = len(fields) > 9 and fields[3] == b"0A"
                if listening and int(fields[1].rsplit(b":", 1)[1], 16) == port:
                    inodes.add(fields[9].decode())
    return inodes


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/{pid}/task/{task}/children", "rb") as handle,
            ):
                found += [int(child) for child in handle.read().split()]
    return found


def in_tree(pid: int, root: int) -> bool:
    """True when ``pid`` is ``root`` or in its process group (each component leads one)."""
    if pid == root:
        return True
    try:
        return os.getpgid(pid) == root
    except OSError:
        return False


def describe(pid: int | None) -> str:
    if pid is None:
        return "a process of another user"
    import psutil

    try:
        return f"another program (pid {pid}, {psutil.Process(pid).name()})"
    except psutil.Error:
        return f"another program (pid {pid})"
