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
        names = ", ".join(p.name for p in state.processes)
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
    offsets = {}
    for name, path in files.items():
        tail, offsets[name] = _last_lines(path, count)
        for text in tail:
            mux.line(name, text)
    _end_if_unread(mux)
    if not follow:
        return
    with contextlib.suppress(KeyboardInterrupt):
        partial = dict.fromkeys(files, b"")
        running = True
        while running:
            running = deployment is None or _running(deployment)
            for name, path in files.items():
                offsets[name] = _follow(mux, name, path, offsets.get(name, 0), partial)
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


def _follow(mux: LogMux, name: str, path: Path, offset: int, partial: dict[str, bytes]) -> int:
    try:
        with path.open("rb") as log:
            if log.seek(0, 2) < offset:  # a restarted run rewrote the file
                offset = 0
            log.seek(offset)
            data = partial[name] + log.read()
            offset = log.tell()
    except FileNotFoundError:
        return 0
    *lines, partial[name] = data.split(b"\n")
    for raw in lines:
        mux.line(name, raw.decode("utf-8", "replace"))
    return offset
