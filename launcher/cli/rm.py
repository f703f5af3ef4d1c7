"""``trtl rm``: forget stopped deployments (their state and logs)."""

from __future__ import annotations

import click


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
def rm(*, names: tuple[str, ...]) -> None:
    """Forget stopped deployment NAME: remove its state and logs, so `trtl ps --all` no
    longer lists it. A running deployment is refused (stop it with `trtl down NAME`)."""
    from trtl.launcher.deployments.forget import forget_deployment

    for name in names:
        click.echo(forget_deployment(name), err=True)
