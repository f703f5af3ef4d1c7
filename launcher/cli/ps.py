"""``trtl ps``: the deployments running here (``--all``: every one that has run)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Also list stopped deployments.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def ps(*, show_all: bool, as_json: bool) -> None:
    """List running deployments: name, state, URL, model and running processes.

    --all also lists stopped and failed ones (`trtl rm NAME` forgets one).
    """
    from trtl.launcher.deployments.forget import still_running
    from trtl.launcher.deployments.state import list_states

    every = list_states()
    states = every if show_all else [s for s in every if still_running(s)]
    if as_json:
        click.echo(json.dumps([s.to_json() for s in states], indent=2))
        return
    hidden = len(every) - len(states)
    more = f" ({hidden} stopped: `trtl ps --all` lists them)" if hidden else ""
    if not states:
        click.echo(f"no deployment is running; start one with `trtl up PROFILE`{more}", err=True)
        return
    from rich.table import Table
    from rich.text import Text
    from trtl.launcher.deployments.lifecycle import ProcessStatus
    from trtl.launcher.deployments.status_view import STATE_STYLE, uptime
    from trtl.launcher.terminal import table_console

    table = Table()
    for column in ("NAME", "STATE", "URL", "MODEL", "PROCESSES", "UPTIME"):
        table.add_column(column, no_wrap=True)
    for s in states:
        running = sum(p.state == ProcessStatus.RUNNING for p in s.processes)
        active = s.active
        table.add_row(
            s.deployment,
            Text(s.state, style=STATE_STYLE.get(s.state, "")),
            f"{s.frontend_url}/v1" if active else "-",
            s.served_model_name,
            f"{running}/{len(s.processes)} running",
            uptime(s.started_at) if active else "-",
        )
    table_console().print(table)
    if hidden:
        click.echo(
            f"{hidden} stopped deployment{'s' if hidden > 1 else ''} not shown: `trtl ps --all`",
            err=True,
        )
