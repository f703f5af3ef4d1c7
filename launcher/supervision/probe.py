"""What the running processes say about themselves: the deployment's and each worker's readiness.

The deployment is servable when the frontend's ``/v1/models`` lists the served model (in
disaggregated mode Dynamo lists it only once prefill and decode are both there); the
frontend's ``/health`` is healthy even with no worker, so it is not used. A worker has
registered when its status server (``DYN_SYSTEM_PORT``) reports its endpoints ready: the
mocker answers 503 "notready" for its whole life but lists ``"generate": "ready"`` once
it registered, while a real trtllm worker answers 200 "ready". The prober polls fast until
everything is up, then slowly, and reports changes only.

Liveness is a separate fact: whether a process answers at all. A process that accepts the
connection (the kernel does that for a stopped or wedged process) but sends no answer
within the timeout is *silent*; a refused connection is not silence (the process is still
starting or already gone, and its exit tells the rest). The supervisor decides how long
silence may last (``restart.hang_timeout``). The status server is served by Dynamo's Rust
runtime for the mocker, trtllm and vLLM alike, so it answers while the engine's Python is
busy, and stops answering only when the whole process is stopped or wedged.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from trtl.launcher.supervision.port_owner import describe, held_by_tree, in_tree, listeners
from trtl.launcher.supervision.quiet_start import CARDS, has_entries
from trtl.launcher.supervision.yielding import yield_cpu

FAST_INTERVAL = 0.01  # while starting: readiness shows within 10 ms
# Before any worker published its model card (file discovery: <dir>/v1/mdc/), the model
# cannot be listed: the prober then looks at that folder (one stat) every CARD_CHECK s and
# asks the processes only every GATED_INTERVAL s (their silence still shows). Polling five
# refused ports every 10 ms cost 25-55 ms of CPU a second, taken from the starting graph.
# Both stretch with the time already spent starting (an engine that loads for a minute
# needs no 10 ms checks): at most LATE_SHARE of that time late, at most SLOW_INTERVAL.
CARD_CHECK = 0.01
GATED_INTERVAL = 0.1
LATE_SHARE = 0.01
SLOW_INTERVAL = 1.0  # once up: cheap enough to idle at well under 1 % of a core
TIMED_OUT = "timed out"  # what _get returns when a process accepted but never answered


@dataclass(frozen=True)
class ModelListed:
    """The frontend does (or no longer does) list the served model."""

    listed: bool


@dataclass(frozen=True)
class Silent:
    """A process does (or no longer does) leave its health endpoint unanswered."""

    name: str
    silent: bool


@dataclass(frozen=True)
class Usurped:
    """The socket on a port trtl polls for ``name`` belongs to another program."""

    name: str
    port: int
    holder: str  # in words: "another program (pid 4242, nc)"


@dataclass(frozen=True)
class Registered:
    """A worker's status server does (or no longer does) report its endpoints ready."""

    name: str
    registered: bool


def model_listed(body: object, served_name: str) -> bool:
    if not isinstance(body, dict):
        return False
    return any(isinstance(m, dict) and m.get("id") == served_name for m in body.get("data") or [])


def worker_registered(status_code: int, body: object) -> bool:
    if status_code == 200:
        return True
    if not isinstance(body, dict):
        return False
    endpoints = body.get("endpoints")
    return bool(endpoints) and all(v == "ready" for v in endpoints.values())


class Prober(threading.Thread):
    """Polls the frontend and every worker's status server; emits changes only."""

    def __init__(
        self,
        frontend_url: str,
        served_name: str,
        status_ports: dict[str, int],
        emit: Callable[[object], None],
        pid_of: Callable[[str], int | None] | None = None,
        discovery: str | None = None,
    ):
        super().__init__(name="trtl-prober", daemon=True)
        self.cards = os.path.join(discovery, *CARDS) if discovery else None
        self.frontend_url = frontend_url
        self.served_name = served_name
        self.status_ports = status_ports
        self._emit = emit
        self._pid_of = pid_of
        # Processes whose polled port was seen held by their own tree (this incarnation).
        self._owned: set[str] = set()
        self._foreign: set[str] = set()  # ... and held by another program instead
        self._frontend_port = _split(frontend_url)[1]
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._listed: bool | None = None
        self._registered: dict[str, bool] = {}
        self._silent: dict[str, bool] = {}
        self._workers_asked = -GATED_INTERVAL  # monotonic; see _poll

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def forget(self, name: str) -> None:
        """A process restarted: report its next readiness even if it looks unchanged."""
        if name == "frontend":
            self._listed = None
        else:
            self._registered.pop(name, None)
        self._silent.pop(name, None)
        self._owned.discard(name)
        self._foreign.discard(name)
        self._wake.set()

    def hurry(self) -> None:
        """Poll fast again (a process restarted, or the model went away)."""
        self._wake.set()

    def run(self) -> None:
        yield_cpu()  # the processes first (yielding.py)
        client = _Client()
        try:
            fast = True
            gated, polled = self.cards is not None, -GATED_INTERVAL
            began = time.monotonic()
            while not self._halt.is_set():
                if gated and not has_entries(self.cards):
                    now = time.monotonic()
                    late = (now - began) * LATE_SHARE
                    if now - polled < min(GATED_INTERVAL + 10 * late, SLOW_INTERVAL):
                        self._wake.wait(min(CARD_CHECK + late, GATED_INTERVAL))
                        self._wake.clear()
                        continue
                    polled = now
                else:
                    gated = False  # a card was published: from now on, as always
                all_up = self._poll(client)
                if all_up and fast:
                    fast = False
                self._wake.wait(FAST_INTERVAL if fast else SLOW_INTERVAL)
                if self._wake.is_set():
                    self._wake.clear()
                    fast = True
        finally:
            client.close()

    def _poll(self, client) -> bool:
        listed = self._get(client, f"{self.frontend_url}/v1/models")
        self._note_silence("frontend", listed)
        listed = self._from_ours("frontend", self._frontend_port, listed)
        is_listed = isinstance(listed, tuple) and model_listed(listed[1], self.served_name)
        if is_listed != self._listed:
            self._listed = is_listed
            self._emit(ModelListed(is_listed))
        everyone = is_listed
        # Until the model is listed the deployment is not ready whatever the workers say:
        # their status servers are asked every GATED_INTERVAL only (their silence still
        # shows), not at every 10 ms poll: half the requests while the graph starts, and
        # each one costs the starting worker too. Listed, they are asked at once.
        now = time.monotonic()
        if not is_listed and now - self._workers_asked < GATED_INTERVAL:
            return False
        self._workers_asked = now
        for name, port in self.status_ports.items():
            answer = self._get(client, f"http://127.0.0.1:{port}/health")
            self._note_silence(name, answer)
            answer = self._from_ours(name, port, answer)
            up = isinstance(answer, tuple) and worker_registered(*answer)
            if up != self._registered.get(name):
                self._registered[name] = up
                self._emit(Registered(name, up))
            everyone = everyone and up
        return everyone

    def _from_ours(self, name: str, port: int, answer: tuple[int, object] | str | None):
        """``answer`` if the port's listener is the process trtl started as ``name``; else
        None, and one Usurped event. Checked once per incarnation: a socket, once seen to be
        ours, stays ours until the process exits."""
        if name in self._foreign:
            return None
        if answer is None or self._pid_of is None or name in self._owned:
            return answer
        root = self._pid_of(name)
        if root is not None and held_by_tree(port, root):  # the usual case, found cheaply
            self._owned.add(name)
            return answer
        held = listeners(port)
        if root is None or not held:
            # Who listens cannot be told right now (the table changed while it was read):
            # an answer not known to be ours is not believed; the next poll asks again.
            return None
        if any(pid and in_tree(pid, root) for pid in held):
            self._owned.add(name)
            return answer
        self._foreign.add(name)
        self._emit(Usurped(name, port, describe(next((pid for pid in held if pid), None))))
        return None

    def _note_silence(self, name: str, answer: tuple[int, object] | str | None) -> None:
        silent = answer == TIMED_OUT
        if silent != self._silent.get(name, False):
            self._silent[name] = silent
            self._emit(Silent(name, silent))

    @staticmethod
    def _get(client: _Client, url: str) -> tuple[int, object] | str | None:
        """(status, JSON body or None); TIMED_OUT when nothing answered; None when refused."""
        return client.get(url)


class _Client:
    """Keep-alive HTTP/1.1 GET on loopback, on a bare socket: the prober asks every 10 ms
    while a graph starts, beside the processes, so every microsecond counts; httpx cost
    several times the CPU of http.client, and http.client (importing ssl and email, and
    parsing headers into messages) several times this."""

    def __init__(self, timeout: float = 1.0):
        self.timeout = timeout
        self._connections: dict[tuple[str, int], socket.socket] = {}

    def get(self, url: str) -> tuple[int, object] | str | None:
        host, port, path = _split(url)
        key = (host, port)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        for _attempt in range(2):
            reused = key in self._connections
            try:
                if not reused:
                    self._connections[key] = socket.create_connection(key, self.timeout)
                connection = self._connections[key]
                connection.sendall(request)
                status, body, keep = _response(connection)
                if not keep:
                    self._drop(key)
                break
            except TimeoutError:
                self._drop(key)
                return TIMED_OUT
            except (OSError, ValueError):
                self._drop(key)
                # A kept-alive connection the server has since closed says nothing about
                # the server: ask once more on a new one.
                if not reused:
                    return None
        else:
            return None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None

    def _drop(self, key: tuple[str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)


def _split(url: str) -> tuple[str, int, str]:
    """``http://HOST:PORT/PATH`` -> (HOST, PORT, /PATH); HOST without IPv6 brackets."""
    rest = url.split("://", 1)[-1]
    where, slash, path = rest.partition("/")
    host, _, port = where.rpartition(":")
    if not host or "]" in port:  # no port given
        host, port = where, "80"
    return host.strip("[]"), int(port), slash + path or "/"


def _response(connection: socket.socket) -> tuple[int, bytes, bool]:
    """Read one response: (status, body, whether the connection stays open). Raises
    ConnectionError when the server closed it first, ValueError when it is not HTTP."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(connection)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    keep = headers.get("connection") != "close" and version != "HTTP/1.0"
    if status in ("204", "304"):
        return int(status), b"", keep
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(body) < size:
            body += _recv(connection)
        return int(status), body[:size], keep
    if headers.get("transfer-encoding") == "chunked":
        return int(status), _chunks(connection, body), keep
    while True:  # neither: the body ends when the server closes
        try:
            body += _recv(connection)
        except ConnectionError:
            return int(status), body, False


def _chunks(connection: socket.socket, data: bytes) -> bytes:
    body = b""
    while True:
        while b"\r\n" not in data:
            data += _recv(connection)
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(data) < size + 2:
            data += _recv(connection)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


def _recv(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise ConnectionError("closed by the server")
    return chunk
