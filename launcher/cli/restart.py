"""``trtl restart``: restart a deployment's processes one by one, while it serves."""

from __future__ import annotations

import click


@click.command()
@click.argument("name")
@click.argument("target", required=False, metavar="[ROLE|PROCESS]")
def restart(*, name: str, target: str | None) -> None:
    """Restart the processes of deployment NAME (or of one role, or one process) in turn.

    Each worker's successor starts beside it and takes over once up, where the GPUs allow
    it; the frontend is restarted last. Use it after editing an engine config on disk or
    building a new engine.
    """
    from trtl.launcher.cli.scale import _running
    from trtl.launcher.deployments import live_client
    from trtl.profiles.errors import ProfileError

    state = _running(name)
    running = live_client.running_plan(state)
    names = [p.name for p in running.processes]
    if target is None:
        chosen = names
    else:
        chosen = [p.name for p in running.processes if target in (p.name, p.role)]
    if not chosen:
        roles = sorted({p.role for p in running.processes})
        raise ProfileError(
            f"{name!r} has no role or process {target!r}; roles: {', '.join(roles)}; "
            f"processes: {', '.join(names)}."
        )
    click.echo(live_client.restart(state, chosen)["message"])
