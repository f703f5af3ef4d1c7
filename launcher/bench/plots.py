"""The benchmark's plots as PNG, drawn with matplotlib.

- ``pareto.png``: output tokens/s per GPU (or per process) against tokens/s per user, one
  curve per graph, each point labelled with its concurrency: the chart Dynamo's deploy
  guide used to answer "does disaggregation pay off?";
- ``ttft.png`` and ``itl.png``: latency p50 (solid) and p99 (dashed) against concurrency.

aiperf's own ``aiperf plot`` draws through plotly and kaleido, which needs a Chrome
install to write PNG, and knows nothing of trtl's GPU placement; so trtl draws these.
Every PNG is WIDTH x HEIGHT pixels.
"""

from __future__ import annotations

from pathlib import Path

from trtl.launcher.bench.summary import BenchRun, BenchSummary
from trtl.launcher.bench.table import unit_label

WIDTH, HEIGHT, DPI = 900, 560, 100
PLOTS = ("pareto.png", "ttft.png", "itl.png")


def draw_all(summary: BenchSummary, directory: Path) -> list[Path]:
    """Write every plot of ``summary`` into ``directory``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, also without a display
    runs = [run for run in summary.runs if run.levels]
    if not runs:
        return []
    return [
        _pareto(runs, directory / "pareto.png"),
        _latency(runs, "ttft", "Time to first token", directory / "ttft.png"),
        _latency(runs, "itl", "Inter-token latency", directory / "itl.png"),
    ]


def _figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig, ax, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.legend()
    # No bbox "tight": it would change the pixel size from one plot to the next.
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _pareto(runs: list[BenchRun], path: Path) -> Path:
    fig, ax = _figure()
    unit = unit_label(runs)
    for run in runs:
        # Joined in concurrency order: the curve a sweep traces as load grows.
        levels = sorted(run.levels, key=lambda lv: lv.concurrency)
        xs = [lv.output_tok_s_per_user for lv in levels]
        ys = [lv.output_tok_s_per_unit or lv.output_tok_s for lv in levels]
        cs = [lv.concurrency for lv in levels]
        ax.plot(xs, ys, marker="o", label=run.label)
        for x, y, c in zip(xs, ys, cs, strict=True):
            ax.annotate(f"c{c}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("output tokens/s per user")
    ax.set_ylabel(f"output tokens/s per {unit}")
    ax.set_title("Throughput per " + unit + " vs per user (up and right is better)")
    return _save(fig, ax, path)


def _latency(runs: list[BenchRun], key: str, title: str, path: Path) -> Path:
    fig, ax = _figure()
    for run in runs:
        levels = sorted(run.levels, key=lambda lv: lv.concurrency)
        xs = [lv.concurrency for lv in levels]
        (line,) = ax.plot(
            xs,
            [getattr(lv, f"{key}_p50_ms") for lv in levels],
            marker="o",
            label=f"{run.label} p50",
        )
        ax.plot(
            xs,
            [getattr(lv, f"{key}_p99_ms") for lv in levels],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{run.label} p99",
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({lv.concurrency for run in runs for lv in run.levels}))
    ax.get_xaxis().set_major_formatter("{x:.0f}")
    ax.set_xlabel("concurrency")
    ax.set_ylabel("ms")
    ax.set_title(f"{title} (lower is better)")
    return _save(fig, ax, path)
