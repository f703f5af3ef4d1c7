"""``trtl top``: a live view of a running deployment's processes and traffic."""

from __future__ import annotations

import json
import time

import click


@click.command()
@click.argument("name", required=False)
@click.option("--once", is_flag=True, help="Print one snapshot and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the snapshot as JSON.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2, max=60),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes (and the window rates and latencies cover).",
)
def top(*, name: str | None, once: bool, as_json: bool, interval: float) -> None:
    """Watch deployment NAME (default: the only running one) refresh every second.

    Per process: state, restarts, CPU and memory of its tree, GPU memory and utilisation;
    from the frontend's and workers' /metrics: requests per second, in flight, queued,
    TTFT and ITL (p50/p95 over the last interval), output tokens/s, and per worker the
    KV-cache usage and prefix-cache hit rate where the engine reports them. Ctrl-C quits.
    """
    from trtl.launcher.deployments.state import find_deployment
    from trtl.launcher.deployments.top import TopCollector

    if as_json and not once:
        raise click.UsageError("--json prints one snapshot: give --once with it.")
    collector = TopCollector()
    collector.snapshot(find_deployment(name))  # the start of the first interval
    if once:
        time.sleep(interval)
        snapshot = collector.snapshot(find_deployment(name))
        if as_json:
            click.echo(json.dumps(snapshot, indent=2))
            return
        from trtl.launcher.deployments.top_view import render
        from trtl.launcher.terminal import table_console

        table_console().print(render(snapshot))
        return
    _live(collector, name, interval)


def _live(collector, name: str | None, interval: float) -> None:
    from rich.live import Live
    from trtl.launcher.deployments.lifecycle import is_active
    from trtl.launcher.deployments.state import find_deployment
    from trtl.launcher.deployments.top_view import render
    from trtl.launcher.terminal import table_console

    console = table_console()
    deployment = find_deployment(name).deployment  # follow this one, even if others start
    if not console.is_terminal:  # a pipe or a file: one view after another, no redrawing
        try:
            while True:
                time.sleep(interval)
                console.print(render(collector.snapshot(find_deployment(deployment))))
                console.file.flush()  # a reader of the pipe sees each view as it comes
        except KeyboardInterrupt:
            return
    try:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                state = find_deployment(deployment)
                live.update(render(collector.snapshot(state)), refresh=True)
                if not is_active(state.state):
                    break
    except KeyboardInterrupt:
        pass
