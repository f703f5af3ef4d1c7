"""``trtl down``: stop a deployment from another terminal, leaving nothing running."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", required=False)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to drain before SIGKILL when the supervisor is gone (default 30).",
)
def down(*, name: str | None, grace: float | None) -> None:
    """Stop deployment NAME (default: the only running one) and check nothing is left."""
    from trtl.launcher.deployments.stop import stop_deployment

    for line in stop_deployment(name, grace=grace):
        click.echo(line, err=True)
