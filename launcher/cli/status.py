"""``trtl status``: one deployment's processes, as a table or as JSON."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(*, name: str | None, as_json: bool) -> None:
    """Show the processes of deployment NAME (default: the only running one)."""
    from launcher.state import find_deployment

    state = find_deployment(name)
    if as_json:
        click.echo(json.dumps(state.to_json(), indent=2))
        return
    from launcher.status_view import headline, process_table

    from .output import table_console

    console = table_console()
    console.print(headline(state), soft_wrap=True)
    console.print(process_table(state, title=False))
