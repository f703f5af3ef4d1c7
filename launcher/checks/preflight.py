"""Checks ``trtl up`` runs before it starts anything.

Every port the plan binds is free, every process's Python can import its Dynamo module
and its engine (``preflight_engines``), and the model is on disk: a local directory
with ``config.json``, or a Hugging Face id in the cache, downloaded once here when it is
not. Each failure is one ``PreflightError`` sentence naming the thing and the fix; since
nothing has started yet, nothing is left to clean up. Enough GPUs is decided earlier, by
``build_plan``.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from trtl.launcher.checks.model_fetch import ensure_model
from trtl.launcher.deployments.paths import state_home
from trtl.launcher.planning.plan import LOOPBACK, Plan, ProcessPlan
from trtl.profiles.engines import engine
from trtl.profiles.errors import PreflightError

# What each worker port is for, in messages (vLLM workers have more than the status port).
PORT_KINDS = {"system": "status", "nixl": "NIXL handshake", "kv_events": "KV events"}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_preflight(
    plan: Plan, *, offline: bool = False, echo: Callable[[str], None] = _stderr
) -> list[str]:
    """Check ports, engine modules and the model of ``plan``; return notes to show.

    Raises PreflightError with one sentence and the fix for the first problem found.
    """
    from trtl.launcher.checks.preflight_engines import (
        check_engines,
        check_model_fits,
        check_workers,
    )

    check_ports(plan)
    check_workers(plan)
    check_engines(plan)
    notes = check_model(plan, offline=offline, echo=echo)
    check_model_fits(plan)
    return notes


# --- ports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bind:
    process: ProcessPlan
    kind: str  # "http" or "system"
    host: str
    port: int


def check_ports(plan: Plan) -> None:
    """Every port of the plan can be bound on the host its process binds. Raises PreflightError."""
    for bind in _binds(plan):
        problem = _bind_error(bind.host, bind.port)
        if problem is None:
            continue
        kind = PORT_KINDS.get(bind.kind, bind.kind)
        what = "frontend HTTP port" if bind.kind == "http" else f"{bind.process.name} {kind} port"
        if problem == errno.EADDRNOTAVAIL:
            raise PreflightError(
                f"cannot listen on {bind.host}: no network interface of this machine has "
                "that address.",
                hint="Pass --host with one of this machine's addresses, or 0.0.0.0 for all.",
            )
        if problem != errno.EADDRINUSE:
            raise PreflightError(
                f"cannot bind the {what} {bind.host}:{bind.port}: {os.strerror(problem)}.",
                hint="Pass --port with a port above 1023." if bind.kind == "http" else None,
            )
        holder, deployment = _holder(bind.port)
        by = f" by {holder}" if holder else ""
        fix = f"Stop it (`trtl down {deployment}`)" if deployment else "Stop whatever holds it"
        if bind.kind == "http":
            fix += f", or pass --port with a free port (e.g. --port {_suggest(bind.port)})."
        else:
            fix += "; trtl picks new status ports on the next `trtl up`."
        raise PreflightError(f"the {what} {bind.host}:{bind.port} is in use{by}.", hint=fix)


def _binds(plan: Plan) -> list[_Bind]:
    binds = []
    for proc in plan.processes:
        for kind, port in proc.ports.items():
            # The frontend binds its --http-host and a worker its DYN_SYSTEM_HOST (loopback
            # unless the plan opened it up); a listener on 0.0.0.0 blocks loopback too.
            host = _flag(proc.argv, "--http-host") if kind == "http" else None
            host = host or proc.env.get("DYN_SYSTEM_HOST") or LOOPBACK
            binds.append(_Bind(proc, kind, host, port))
    return binds


def _flag(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv[:-1]):
        if arg == flag:
            return argv[i + 1]
    return None


def _bind_error(host: str, port: int) -> int | None:
    """The errno of binding ``host:port`` now, or None when it would work."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def _holder(port: int) -> tuple[str | None, str | None]:
    """("python (pid 123)", trtl deployment or None) of the listener on ``port``, if visible."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None, None  # listing sockets may need privileges (macOS): say less
    pids = [c.pid for c in conns if c.laddr and c.laddr.port == port and c.pid]
    listening = [c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.pid in pids]
    for pid in listening or pids:
        try:
            proc = psutil.Process(pid)
            name = _describe(proc)
        except psutil.Error:
            continue
        return f"{name} (pid {pid})", _deployment_of(proc)
    return None, None


def _describe(proc) -> str:
    cmd = proc.cmdline()
    # `python -m dynamo.frontend ...` says more than "python3".
    if len(cmd) > 2 and cmd[1] == "-m":
        return cmd[2]
    text = " ".join([os.path.basename(cmd[0]), *cmd[1:]]) if cmd else proc.name()
    return text if len(text) <= 60 else text[:57] + "..."


def _deployment_of(proc) -> str | None:
    """The trtl deployment a process belongs to: its DYN_FILE_KV lies in trtl's state dir."""
    import psutil

    try:
        discovery = proc.environ().get("DYN_FILE_KV")
    except psutil.Error:
        return None
    if not discovery:
        return None
    root = os.path.dirname(os.path.normpath(discovery))
    return os.path.basename(root) if os.path.dirname(root) == str(state_home()) else None


def _suggest(busy: int) -> int:
    from trtl.launcher.planning.ports import free_ports

    try:
        return free_ports(1, exclude={busy})[0]
    except OSError:
        return busy + 1


# --- model -------------------------------------------------------------------------------


def check_model(
    plan: Plan, *, offline: bool = False, echo: Callable[[str], None] = _stderr
) -> list[str]:
    """The model is on disk (fetched once if needed); returns notes. Raises PreflightError."""
    worker = next((p for p in plan.processes if p.role != "frontend"), None)
    # The workers load the model, so their environment (HF_HOME, HF_HUB_OFFLINE set in the
    # profile's env:) decides which cache counts.
    env = {**os.environ, **(worker.env if worker else {})}
    weights = engine(plan.profile.engine).needs_weights
    location = ensure_model(
        plan.profile.model, offline=offline, env=env, echo=echo, weights=weights
    )
    if location.source == "download":
        return [f"downloaded {location.model} to {location.path}"]
    return []
