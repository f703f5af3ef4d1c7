"""``trtl apply``: change a running deployment to match a profile, process by process."""

from __future__ import annotations

import click
from trtl.launcher.api_arguments import GRACE_RANGE, TIMEOUT_RANGE
from trtl.launcher.cli.options import load, plan_options, profile_options
from trtl.launcher.cli.up import DEFAULT_TIMEOUT, up


@click.command()
@click.argument("profile_ref", metavar="PROFILE")
@profile_options
@plan_options
@click.option("--dry-run", is_flag=True, help="Print what would change (a diff); change nothing.")
@click.option(
    "--timeout",
    type=click.FloatRange(*TIMEOUT_RANGE),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="If the deployment is not running: seconds to wait until it is servable.",
)
@click.option("--grace", type=click.FloatRange(*GRACE_RANGE), default=None, hidden=True)
@click.option("--offline", is_flag=True, help="Never download the model; fail if it is missing.")
@click.pass_context
def apply(
    ctx: click.Context,
    *,
    profile_ref: str,
    engine,
    model,
    overrides,
    name,
    port,
    host,
    gpus,
    python,
    share_gpus,
    dry_run: bool,
    timeout: float,
    grace,
    offline: bool,
) -> None:
    """Make the running deployment match PROFILE, changing only what differs.

    New processes are started, removed ones stopped and changed ones (argv, environment,
    GPUs, engine config) replaced: a new worker starts beside the old one and takes over
    once it is up, where the GPUs allow it. Unchanged processes keep running (same PIDs).
    Options not given keep the running deployment's (port, address, GPUs, python). On a
    name that is not running, apply is `trtl up -d`.
    """
    from trtl.launcher.deployments import live_client

    profile = load(profile_ref, engine, model, overrides)
    deployment = name or profile.name
    state = live_client.running_state(deployment)
    if state is None:
        if dry_run:
            click.echo(f"{deployment!r} is not running: apply would start it (trtl up -d).")
            return
        ctx.invoke(up, profile_ref=profile_ref, engine=engine, model=model, overrides=overrides,
                   name=name, port=port, host=host, gpus=gpus, python=python,
                   share_gpus=share_gpus, detach=True, quiet=True, timeout=timeout, grace=grace,
                   offline=offline, supervise=False)  # fmt: skip
        return
    running = live_client.running_plan(state)
    options = _options(ctx, running, name=deployment, port=port or _profile_port(profile, running),
                       host=host, gpus=gpus, python=python, share_gpus=share_gpus)  # fmt: skip
    new, diff = live_client.compare(running, live_client.replan(profile, options, state))
    live_client.refuse_blockers(diff, deployment)
    live_client.refuse_too_big(running, new, "Lower the replicas in the profile.")
    _show(diff, running, new, dry_run)
    if dry_run or not diff.actions:
        return
    answer = live_client.submit(state, new)
    click.echo(answer["message"])


def _profile_port(profile, running) -> int | None:
    """The frontend port the profile asks for, where it changed it: the running port
    otherwise (which `up --port` may have set). A changed port is refused as a blocker, as
    `--port` is: without this, the profile's new port was dropped ("nothing to change")."""
    wanted = profile.frontend.http_port
    return wanted if wanted != running.profile.frontend.http_port else None


def _options(ctx: click.Context, running, *, name, port, host, gpus, python, share_gpus):
    """The options given, else the running deployment's."""
    import dataclasses

    from trtl.launcher.planning.diff import options_of

    given = options_of(running)
    host_given = ctx.get_parameter_source("host") != click.core.ParameterSource.DEFAULT
    return dataclasses.replace(
        given,
        deployment=name,
        http_port=port or given.http_port,
        http_host=host if host_given else given.http_host,
        gpus=gpus if gpus is not None else given.gpus,
        python=python or given.python,
        share_gpus=share_gpus or given.share_gpus,
    )


def _show(diff, running, new, dry_run: bool) -> None:
    from trtl.launcher.planning.diff import render_diff
    from trtl.launcher.terminal import note_line

    if dry_run:
        text = render_diff(diff, running, new)
        if text:
            click.echo(text)
    note_line(f"{running.deployment}: {diff.summary()}" + (" (dry run)" if dry_run else ""))
