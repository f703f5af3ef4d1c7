"""The supervisor's private control channel: a Unix socket in the run directory.

``trtl apply``, ``scale`` and ``restart`` ask the running supervisor to change its
deployment; the supervisor stays the only owner of the processes. The socket lives in the
run directory (user-only) and is itself user-only; there is no network port. One request
per connection: a JSON line in, a JSON line out. The server thread only parses and queues a
``ControlRequest`` for the supervisor's loop, then waits for the loop's answer; all work
happens on the loop thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtl.profiles.errors import SupervisorError

SOCKET_NAME = "control.sock"
MAX_REQUEST = 16 * 2**20  # a plan with its engine configs is well below this
CONNECT_TIMEOUT = 5.0


@dataclass
class ControlRequest:
    """One request for the supervisor's loop; it answers through ``reply``."""

    op: str
    args: dict[str, Any]
    answer: queue.SimpleQueue[dict[str, Any]] = field(default_factory=queue.SimpleQueue)

    def reply(self, ok: bool, message: str = "", exit_code: int = 0, **data: Any) -> None:
        self.answer.put(
            {"ok": ok, "message": message, "exit_code": 0 if ok else exit_code or 1, **data}
        )


def socket_path(run_root: Path) -> Path:
    return run_root / SOCKET_NAME


class ControlServer(threading.Thread):
    """Accepts requests on the socket and hands them to ``emit`` (the supervisor's queue)."""

    def __init__(self, run_root: Path, emit: Callable[[object], None]):
        super().__init__(name="trtl-control", daemon=True)
        self.path = socket_path(run_root)
        self._emit = emit
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a killed run
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Created owner-only from the start (no window in which others could connect).
        old = os.umask(0o177)
        try:
            with _short(self.path) as where:
                self._sock.bind(where)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._sock.listen(8)

    def run(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = json.loads(_read_line(conn))
                request = ControlRequest(str(data["op"]), dict(data.get("args") or {}))
            except (ValueError, KeyError, TypeError, OSError):
                _send(conn, {"ok": False, "message": "malformed request", "exit_code": 2})
                return
            self._emit(request)
            _send(conn, request.answer.get())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def _short(path: Path):
    """A name for ``path`` that fits a socket address (108 bytes): through an open handle
    on its directory when the path itself is longer (deep test or home directories)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _read_line(conn: socket.socket) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_REQUEST:
            break
    return b"".join(chunks)


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(answer).encode() + b"\n")


def ask(
    run_root: Path, deployment: str, op: str, args: dict[str, Any] | None = None, *, timeout: float
) -> dict[str, Any]:
    """Send one request to the deployment's supervisor and return its answer.

    Raises SupervisorError (exit 1) when the supervisor does not answer.
    """
    path = socket_path(run_root)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        with _short(path) as where:
            sock.connect(where)
        sock.settimeout(timeout)
        sock.sendall(json.dumps({"op": op, "args": args or {}}).encode() + b"\n")
        answer = _read_line(sock)
    except (OSError, TimeoutError) as exc:
        raise _not_answering(deployment, path, exc) from exc
    finally:
        sock.close()
    try:
        return json.loads(answer)
    except ValueError as exc:
        raise _not_answering(deployment, path, exc) from exc


def _not_answering(deployment: str, path: Path, exc: Exception) -> SupervisorError:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return SupervisorError(
        f"the supervisor of {deployment!r} is not answering on {path} ({why}); "
        "the deployment was left as it is.",
        hint=f"Check `trtl status {deployment}`; if it is stuck, `trtl down {deployment}` and "
        "start it again.",
    )
