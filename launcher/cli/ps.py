"""``trtl ps``: every deployment that has run here, and its state."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def ps(*, as_json: bool) -> None:
    """List deployments: name, state, URL, model and running processes."""
    from launcher.deployments.state import list_states

    states = list_states()
    if as_json:
        click.echo(json.dumps([s.to_json() for s in states], indent=2))
        return
    if not states:
        click.echo("no deployments; start one with `trtl up PROFILE`", err=True)
        return
    from rich.table import Table
    from rich.text import Text

    from launcher.deployments.lifecycle import ProcessStatus
    from launcher.deployments.status_view import STATE_STYLE, uptime
    from launcher.terminal import table_console

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
