"""Who listens on a port: so trtl believes only health answers from the processes it started.

Another local program (or user) can bind a worker's status port before the worker does;
Dynamo then runs on without its status server, and every answer on that port comes from
the other program. psutil maps a listening socket to its process (for another user's
socket it cannot, which is just as telling: not ours).
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


def in_tree(pid: int, root: int) -> bool:
    """True when ``pid`` is ``root`` or in its process group (each component is a session)."""
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
