"""The comparison on the terminal: graphs side by side, per level, ratios, the better marked.

One row per level and figure; one column per graph, then one ratio column per graph after
the first (its value over the first graph's). Where there are two graphs or more, the
better value of each row carries ``*`` (lower latency and errors, higher throughput).
Numbers are printed through ``number()``, the one formatter the tests parse back.
"""

from __future__ import annotations

from dataclasses import dataclass

from trtl.launcher.bench.figures import Level
from trtl.launcher.bench.summary import BenchRun, BenchSummary

BETTER_MARK = "*"


@dataclass(frozen=True)
class Figure:
    """One row kind: a Level field, its label, and which way is better (None: neither)."""

    key: str
    label: str
    better: str | None  # "lower" | "higher" | None


FIGURES = (
    Figure("ttft_p50_ms", "TTFT p50 ms", "lower"),
    Figure("ttft_p90_ms", "TTFT p90 ms", "lower"),
    Figure("ttft_p99_ms", "TTFT p99 ms", "lower"),
    Figure("itl_p50_ms", "ITL p50 ms", "lower"),
    Figure("itl_p99_ms", "ITL p99 ms", "lower"),
    Figure("requests_per_s", "requests/s", "higher"),
    Figure("output_tok_s", "output tok/s", "higher"),
    Figure("output_tok_s_per_unit", "tok/s per {unit}", "higher"),
    Figure("output_tok_s_per_user", "tok/s per user", "higher"),
    Figure("errors", "errors", "lower"),
    Figure("gpu_util_mean", "GPU util mean %", None),
    Figure("gpu_mem_max_mib", "GPU memory max MiB", None),
)


def number(value: float | int | None) -> str:
    """A figure as the table shows it: 3-4 significant digits, no thousands separators."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def unit_label(runs: list[BenchRun]) -> str:
    units = {run.unit for run in runs if run.unit}
    return "/".join(sorted(units)) if units else "GPU"


def comparing(summary: BenchSummary, compare: bool | None) -> bool:
    """Ratios and marks: asked for, or by default when there are several graphs."""
    return len(summary.runs) > 1 and compare is not False


def rows(summary: BenchSummary, compare: bool | None = None) -> list[tuple[int, str, list[str]]]:
    """(concurrency, figure label, cells) for every row of the table, cells as printed."""
    runs = summary.runs
    compare = comparing(summary, compare)
    unit = unit_label(runs)
    levels = _levels(summary)
    out = []
    for concurrency in levels:
        per_run = [_level(run, concurrency) for run in runs]
        for figure in FIGURES:
            values = [getattr(level, figure.key) if level else None for level in per_run]
            if figure.better is None and all(v is None for v in values):
                continue  # no GPU samples anywhere: no GPU rows
            cells = [number(v) for v in values]
            best = _best(values, figure.better) if compare else None
            if best is not None:
                cells[best] += BETTER_MARK
            if compare:
                cells += [_ratio(v, values[0]) for v in values[1:]]
            out.append((concurrency, figure.label.format(unit=unit), cells))
    return out


def _levels(summary: BenchSummary) -> list[int]:
    seen = {level.concurrency for run in summary.runs for level in run.levels}
    ordered = [c for c in summary.workload.concurrency if c in seen]
    return ordered + sorted(seen - set(ordered))


def _level(run: BenchRun, concurrency: int) -> Level | None:
    return next((lv for lv in run.levels if lv.concurrency == concurrency), None)


def _best(values: list[float | int | None], better: str | None) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if better is None or len(known) < 2 or len({v for v, _ in known}) == 1:
        return None
    pick = min if better == "lower" else max
    return pick(known, key=lambda pair: pair[0])[1]


def _ratio(value: float | int | None, base: float | int | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


def render(summary: BenchSummary, compare: bool | None = None):
    """The rich Table of ``summary``."""
    from rich.table import Table

    runs = summary.runs
    w = summary.workload
    load = f"input {w.isl} / output {w.osl} tokens" if not w.input_file else w.input_file
    table = Table(title=f"trtl bench: {load}")
    table.add_column("conc", justify="right")
    table.add_column("figure")
    for run in runs:
        table.add_column(run.label, justify="right")
    if comparing(summary, compare):
        for run in runs[1:]:
            table.add_column(f"{run.label}/{runs[0].label}", justify="right")
    current = None
    for concurrency, label, cells in rows(summary, compare):
        if current is not None and concurrency != current:
            table.add_section()
        table.add_row(str(concurrency) if concurrency != current else "", label, *cells)
        current = concurrency
    return table


def footer(summary: BenchSummary, compare: bool | None = None) -> list[str]:
    """Lines under the table: what failed, what the marks mean, where the files are."""
    lines = []
    for run in summary.runs:
        if run.error:
            done = ",".join(str(level.concurrency) for level in run.levels) or "none"
            why = run.error.rstrip(".")
            lines.append(f"{run.label}: stopped early ({why}); finished levels: {done}")
        if run.unit == "process":
            lines.append(f"{run.label}: no GPU; throughput is per worker process")
    if comparing(summary, compare):
        lines.append(f"{BETTER_MARK} the better value of the row; ratios are to the first graph")
    if summary.interrupted:
        lines.append("interrupted: the levels above are those that finished")
    return lines
