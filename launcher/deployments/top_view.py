"""The rich view of a ``trtl top`` snapshot: a headline, the frontend's traffic, a process table.

Built only from the dict ``TopCollector.snapshot`` returns (what ``--json`` prints), so the
screen and the JSON never disagree. A dash means "not known (yet)": the first refresh has
no interval to compute rates from, and not every engine reports every figure.
"""

from __future__ import annotations

from typing import Any

from trtl.launcher.deployments.status_view import STATE_STYLE


def _num(value: Any, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and scale == 1.0:
        return f"{value}{unit}"
    return f"{value * scale:.{digits}f}{unit}"


def _ms(value: float | None) -> str:
    return _num(value, " ms", 1000.0, 1)


def traffic_line(front: dict[str, Any]) -> str:
    """The frontend's figures in one line (what a user checks first under load)."""
    if not front.get("reachable"):
        return "frontend /metrics: not answering"
    return (
        f"requests {_num(front['requests_total'])} ({_num(front['requests_per_s'])}/s, "
        f"{_num(front['failed_total'])} failed)  in flight {_num(front['inflight'])}  "
        f"queued {_num(front['queued'])}  "
        f"TTFT p50/p95 {_ms(front['ttft_p50_s'])}/{_ms(front['ttft_p95_s'])}  "
        f"ITL p50/p95 {_ms(front['itl_p50_s'])}/{_ms(front['itl_p95_s'])}  "
        f"output {_num(front['output_tokens_per_s'])} tok/s"
    )


COLUMNS = ("NAME", "ROLE", "PID", "STATE", "RESTARTS", "CPU", "MEM", "GPU MEM", "GPU",
           "REQ/S", "IN FLIGHT", "QUEUED", "KV CACHE", "PREFIX HIT")  # fmt: skip


def render(snapshot: dict[str, Any]):
    """The whole view as one rich renderable."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = (
        f"{snapshot['deployment']}: {snapshot['state']}  {snapshot['frontend_url']}/v1  "
        f"model {snapshot['model']!r}"
    )
    table = Table(expand=False)
    for column in COLUMNS:
        table.add_column(column, no_wrap=True, justify="left" if column in COLUMNS[:4] else "right")
    for proc in snapshot["processes"]:
        worker = proc.get("metrics") or {}
        table.add_row(
            proc["name"],
            proc["role"],
            _num(proc["pid"]),
            Text(proc["state"], style=STATE_STYLE.get(proc["state"], "")),
            str(proc["restarts"]),
            _num(proc["cpu_percent"], "%"),
            _num(proc["memory_mib"], " MiB", digits=0),
            _num(proc["gpu_memory_mib"], " MiB"),
            _num(proc["gpu_util_percent"], "%"),
            _num(worker.get("requests_per_s")),
            _num(worker.get("inflight")),
            _num(worker.get("queued")),
            _num(worker.get("kv_cache_usage_percent"), "%"),
            _num(worker.get("prefix_cache_hit_percent"), "%"),
        )
    lines = [Text(head, style="bold"), Text(traffic_line(snapshot["frontend"])), table]
    for gpu in snapshot.get("gpus") or []:
        lines.append(
            Text(
                f"GPU {gpu['index']} {gpu['name']}: {_num(gpu['utilization_percent'], '%')} busy, "
                f"{gpu['memory_used_mib']}/{gpu['memory_total_mib']} MiB used"
            )
        )
    return Group(*lines)
