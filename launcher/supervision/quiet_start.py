"""After the early spawn: stay off the CPU until the frontend lists the model.

On a machine with few cores every millisecond trtl runs while Dynamo's processes start
delays them: importing the supervisor and setting it up costs 0.15-0.25 s of CPU, more
than the 5 % a bare launch allows. So a repeated ``trtl up`` (``early_start``) first waits
here, with only built-in modules loaded and asleep between cheap looks: until the
frontend lists the model, a process exits (the supervisor must see to it at once), a stop
signal arrives (``HeldStops``: the supervisor then stops every process gracefully), or
QUIET_LIMIT_S has passed (a real engine loads for a minute: its output must not wait that
long to reach the terminal). The supervisor then adopts the processes as before and makes
its own, complete readiness check; nothing it does is skipped, only put off.
"""

from __future__ import annotations

import _signal
import _socket
import os
import time

from trtl.launcher.planning.plan_key import loads

# Longer than a mocker graph takes to be listed on a loaded 2-core machine (0.6-1.8 s),
# short enough that a real engine's first lines are on the terminal almost at once.
QUIET_LIMIT_S = 2.5
# A refused connection costs microseconds; a listing costs the frontend 0.1 ms of CPU and
# trtl 0.065 ms (measured): every 10 ms that was 1.6 % of a core taken from the start.
LOOK_EVERY_S = 0.025
ANSWER_TIMEOUT_S = 0.25
# Where file discovery keeps the model cards (<discovery>/v1/mdc/): until a worker has
# published one the model cannot be listed, so a look is then one directory read, not a
# request to the frontend while it starts (the prober gates the same way). Every
# ASK_ANYWAY-th look asks all the same: were the cards ever kept elsewhere, the wait would
# otherwise last its whole limit.
CARDS = ("v1", "mdc")
ASK_ANYWAY = 10


STOP_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)  # as the supervisor's


class HeldStops:
    """Ctrl-C, SIGTERM (what ``trtl down`` sends) and SIGHUP, kept from the moment the
    processes are spawned until the supervisor takes the handlers over: with Python's
    defaults trtl would die at once and its processes with it, by the parent-death
    signal's SIGKILL, without draining or recording their end. ``received`` lists them in
    order; the supervisor stops gracefully on them (``Supervisor.stops_before``). A second
    one before that acts at once, as the supervisor's second Ctrl-C: the handlers are
    given back and it is delivered again (trtl ends, its processes by their SIGKILL). A
    signal ignored when trtl started (``nohup``'s SIGHUP) stays ignored."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous = {}
        for signum in STOP_SIGNALS:
            previous = _signal.getsignal(signum)
            if previous is not _signal.SIG_IGN:
                self._previous[signum] = previous
                _signal.signal(signum, self._keep)

    def _keep(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            self.release()
            os.kill(os.getpid(), signum)

    def arrived(self) -> bool:
        return bool(self.received)

    def release(self) -> None:
        """The handlers as they were (the supervisor has handled what was kept)."""
        for signum, handler in self._previous.items():
            _signal.signal(signum, handler)

    def give_back(self) -> None:
        """The handlers as they were, and the first signal kept delivered again: the start
        takes the ordinary path, which reacts as it would have (SIGINT raises
        KeyboardInterrupt, SIGTERM ends the process)."""
        self.release()
        if self.received:
            os.kill(os.getpid(), self.received[0])


def wait_until_listed(
    plan: dict, pids: list[int], limit: float = QUIET_LIMIT_S, stops: HeldStops | None = None
) -> str:
    """Sleep until the model is listed ("listed"), a process has exited ("exited"), a stop
    signal arrived ("stopped") or ``limit`` seconds have passed ("limit"); "unknown" when
    the plan does not say where."""
    try:
        host, port = _address(str(plan["frontend_url"]))
        profile = plan["profile"]
        model = str(profile.get("served_name") or profile["model"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return "unknown"
    run_dir = plan.get("run_dir")
    cards = os.path.join(str(run_dir), "discovery", *CARDS) if run_dir else None
    deadline = time.monotonic() + limit
    looks = 0
    while True:
        if stops is not None and stops.arrived():
            return "stopped"
        if any(_exited(pid) for pid in pids):
            return "exited"
        looks += 1
        ask = cards is None or looks % ASK_ANYWAY == 0 or has_entries(cards)
        if ask and _listed(host, port, model):
            return "listed"
        if time.monotonic() >= deadline:
            return "limit"
        time.sleep(LOOK_EVERY_S)


def _address(url: str) -> tuple[str, int]:
    """``http://HOST:PORT`` (the plan's frontend_url) as (HOST, PORT)."""
    rest = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def _exited(pid: int) -> bool:
    """Whether the child ``pid`` has ended, without reaping it: the supervisor waits for
    it and reads its exit status."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def has_entries(folder: str | None) -> bool:
    """Whether ``folder`` exists and holds anything."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except OSError:
        return False


def _listed(host: str, port: int, model: str) -> bool:
    """``GET /v1/models`` answers 200 and lists ``model``."""
    family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.connect((host, port))
        sock.sendall(
            f"GET /v1/models HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: application/json"
            "\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return False
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        return False
    try:
        listing = loads(body.decode("utf-8"))
        return any(entry.get("id") == model for entry in listing["data"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return False
