"""The process table people look at: during ``trtl up`` (live) and in ``trtl status``.

Built from the same ``DeploymentState`` that ``trtl status --json`` prints, so the table
and the JSON never disagree.
"""

from __future__ import annotations

import time

from trtl.launcher.deployments.lifecycle import ALIVE, DeploymentStatus, ProcessStatus
from trtl.launcher.deployments.state import DeploymentState

P, D = ProcessStatus, DeploymentStatus
STATE_STYLE = {
    D.READY: "bold green",
    P.RUNNING: "green",
    P.STARTING: "yellow",  # also D.STARTING: the same string
    P.PENDING: "dim",
    P.BACKOFF: "yellow",
    D.DEGRADED: "yellow",
    P.STOPPING: "magenta",
    P.STOPPED: "dim",  # also D.STOPPED
    P.FAILED: "bold red",  # also D.FAILED
    P.UNKNOWN: "yellow",  # also D.UNKNOWN
}


def uptime(started_at: float | None, now: float | None = None) -> str:
    if not started_at:
        return "-"
    seconds = int((now or time.time()) - started_at)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def headline(state: DeploymentState) -> str:
    """One line: name, state (with elapsed time while starting), URL and model."""
    text = f"{state.deployment}: {state.state}"
    if state.state == D.STARTING and state.started_at:
        text += f" for {uptime(state.started_at)}"
    if state.frontend_url:  # a state recovered without its file knows no URL
        text += f"  {state.frontend_url}/v1  model {state.served_model_name!r}"
    if state.message:
        text += f"  ({state.message})"
    return text


def process_table(
    state: DeploymentState,
    extra_columns: dict[str, dict[str, str]] | None = None,
    title: bool = True,
):
    """A rich Table of the deployment's processes; ``extra_columns`` adds columns by name."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=headline(state) if title else None, title_justify="left", expand=False)
    for column in ("NAME", "ROLE", "PID", "GPUS", "PORTS", "STATE", "RESTARTS", "UPTIME"):
        table.add_column(column, no_wrap=True)
    extra_columns = extra_columns or {}
    for column in extra_columns:
        table.add_column(column, no_wrap=True)
    for proc in state.processes:
        alive = proc.state in ALIVE
        row = [
            proc.name,
            proc.role if not proc.mode or proc.mode == proc.role else f"{proc.role} ({proc.mode})",
            str(proc.pid) if proc.pid and alive else "-",
            ",".join(map(str, proc.gpus)) or "-",
            " ".join(f"{k}={v}" for k, v in proc.ports.items()) or "-",
            Text(proc.state, style=STATE_STYLE.get(proc.state, "")),
            str(proc.restarts),
            uptime(proc.started_at) if alive else "-",
        ]
        row.extend(values.get(proc.name, "-") for values in extra_columns.values())
        table.add_row(*row)
    return table
