"""``trtl status``: one deployment's processes, as a table or as JSON."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(*, name: str | None, as_json: bool) -> None:
    """Show the processes of deployment NAME (default: the only running one).

    Processes placed on GPUs also show the GPU memory their process trees use, and each
    GPU its utilisation (read through NVML).
    """
    from trtl.launcher.deployments.state import find_deployment

    state = find_deployment(name)
    usage = _gpu_usage(state)
    if as_json:
        data = state.to_json()
        if usage is not None:
            data["gpu_usage"] = usage.to_json()
            for proc in data["processes"]:
                held = usage.processes.get(proc["name"])
                proc["gpu_memory_mib"] = held.memory_mib if held else None
        click.echo(json.dumps(data, indent=2))
        return
    from trtl.launcher.deployments.status_view import headline, process_table
    from trtl.launcher.terminal import table_console

    console = table_console()
    console.print(headline(state), soft_wrap=True)
    extra = None
    if usage is not None and not usage.reason:
        extra = {"GPU MEM": {n: _mib(u.memory_mib) for n, u in usage.processes.items()}}
    console.print(process_table(state, extra_columns=extra, title=False))
    if usage is not None:
        for line in _gpu_lines(usage):
            console.print(line, soft_wrap=True)


def _gpu_usage(state):
    """NVML is asked only when a running process of the deployment was given GPUs."""
    from trtl.launcher.deployments.lifecycle import ALIVE

    running = {p.name: p.pid for p in state.processes if p.pid and p.gpus and p.state in ALIVE}
    if not running or not state.active:
        return None
    from trtl.launcher.gpus.usage import gpu_usage

    return gpu_usage(running)


def _mib(value: int | None) -> str:
    return "hidden" if value is None else f"{value} MiB"


def _gpu_lines(usage) -> list[str]:
    if usage.reason:
        return [f"GPU usage unavailable: {usage.reason}"]
    return [
        f"GPU {g.index} {g.name}: "
        f"{'-' if g.utilization_percent is None else g.utilization_percent}% busy, "
        f"{g.memory_used_mib}/{g.memory_total_mib} MiB used"
        for g in usage.gpus
    ]
