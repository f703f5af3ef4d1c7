"""``trtl up``: run a deployment until it is servable, keep it alive, stop it without leftovers."""

from __future__ import annotations

import math

import click
from trtl.launcher.api_arguments import GRACE_RANGE, TIMEOUT_RANGE
from trtl.launcher.cli.options import load, plan_for, plan_options, profile_options

DEFAULT_TIMEOUT = 1800.0  # real TensorRT-LLM engines load for minutes


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds.")
    return value


@click.command()
@click.argument("profile_ref", metavar="PROFILE")
@profile_options
@plan_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once ready.")
@click.option("-q", "--quiet", is_flag=True, help="Show only trtl's own lines, not process logs.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show every process line while starting, not only warnings and errors.",
)
@click.option(
    "--log-size",
    type=click.FloatRange(min=0.01, max=1e6),
    default=50,
    show_default=True,
    help="MiB a process log grows to before it is rotated.",
)
@click.option(
    "--log-files",
    type=click.IntRange(min=0, max=100),
    default=3,
    show_default=True,
    help="Rotated files kept per process besides the current one (NAME.log.1 …).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(*TIMEOUT_RANGE),
    default=DEFAULT_TIMEOUT,
    callback=_finite,
    show_default=True,
    help="Seconds to wait until the model is servable.",
)
@click.option(
    "--grace",
    type=click.FloatRange(*GRACE_RANGE),
    default=None,
    callback=_finite,
    help="Seconds processes get to drain on stop before SIGKILL (default: the profile's, 30).",
)
@click.option("--offline", is_flag=True, help="Never download the model; fail if it is missing.")
@click.option("--supervise", is_flag=True, hidden=True)  # the detached supervisor itself
def up(
    *,
    profile_ref: str,
    engine: str | None,
    model: str | None,
    overrides: tuple[str, ...],
    name: str | None,
    port: int | None,
    host: str,
    gpus: str | None,
    python: str | None,
    share_gpus: bool,
    detach: bool,
    quiet: bool,
    verbose: bool,
    log_size: float,
    log_files: int,
    timeout: float,
    grace: float | None,
    offline: bool,
    supervise: bool,
) -> None:
    """Start PROFILE's frontend and workers, wait until the model is servable, and keep it so.

    PROFILE is a built-in or user profile name (see `trtl profiles`), a profile file or a
    DynamoGraphDeployment file. Ctrl-C (or `trtl down` from another terminal) stops every
    process; nothing is left running.
    """
    from trtl.launcher.deployments import detached, running
    from trtl.launcher.supervision.log_rotation import LogLimits

    limits = LogLimits(max_bytes=int(log_size * 2**20), keep=log_files)
    # The background supervisor records a failure before its own state in the state file,
    # where `trtl up -d` reads it.
    with detached.failures_recorded(name if supervise else None):
        if supervise:
            overrides = detached.overrides_from_env()
            detached.watch_owner()  # a start from `trtl.up` ends with the Python that made it
        profile = load(profile_ref, engine, model, overrides)
        plan = plan_for(
            profile,
            name=name,
            port=port,
            gpus=gpus,
            python=python,
            share_gpus=share_gpus,
            host=host,
        )
        grace = profile.stop_grace if grace is None else grace
        if supervise:  # the background supervisor: `up -d` claimed the name and checked
            code = running.supervise(
                plan, running.inherited_lock(plan), quiet=True, timeout=timeout, grace=grace,
                live=False, limits=limits,
            )  # fmt: skip
        elif detach:
            child_args = detached.detached_args(
                profile_ref, plan, engine, model, overrides, gpus, python, timeout, grace, offline,
                limits, share_gpus=share_gpus,
            )  # fmt: skip
            code = detached.start_detached(
                plan, child_args, timeout=timeout, overrides=overrides, offline=offline
            )
        else:
            code = running.run_foreground(
                plan, quiet=quiet, timeout=timeout, grace=grace, live=True, offline=offline,
                verbose=verbose, limits=limits,
                on_checked=lambda: _remember(
                    profile_ref, profile, plan, quiet=quiet, timeout=timeout, grace=grace,
                    verbose=verbose, limits=limits,
                ),
            )  # fmt: skip
        click.get_current_context().exit(code)


def _remember(profile_ref: str, profile, plan, **options) -> None:
    """Keep the validated plan for the next identical ``trtl up`` (see plan_cache); only a
    command started from the console script, whose arguments are known exactly."""
    from trtl.launcher.planning import plan_cache

    if plan_cache.ENTRY_ARGS is not None:
        plan_cache.save(plan_cache.ENTRY_ARGS, profile_ref, profile, plan, **options)
