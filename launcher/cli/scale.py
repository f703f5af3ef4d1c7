"""``trtl scale``: change how many replicas of a worker role run, live."""

from __future__ import annotations

import click


@click.command()
@click.argument("name")
@click.argument("counts", nargs=-1, required=True, metavar="ROLE=N...")
def scale(*, name: str, counts: tuple[str, ...]) -> None:
    """Run N replicas of worker ROLE in the running deployment NAME.

    New replicas get GPUs as `trtl up` would place them and start beside the running ones;
    surplus replicas (the highest numbers) are stopped after draining their requests.
    """
    from trtl.launcher.deployments import live_client
    from trtl.launcher.planning.diff import options_of

    state = _running(name)
    running = live_client.running_plan(state)
    profile = scaled(running.profile, _parse(counts), name)
    new, diff = live_client.compare(
        running, live_client.replan(profile, options_of(running), state)
    )
    live_client.refuse_blockers(diff, name)
    live_client.refuse_too_big(
        running, new, f"Scale to fewer replicas, e.g. `trtl scale {name} ROLE=2`."
    )
    if not diff.actions:
        click.echo(f"{name}: nothing to change")
        return
    click.echo(live_client.submit(state, new)["message"])


def _running(name: str):
    from trtl.launcher.deployments.live_client import running_state
    from trtl.profiles.errors import SupervisorError

    state = running_state(name)
    if state is None:
        raise SupervisorError(
            f"deployment {name!r} is not running.", hint="Start it with `trtl up PROFILE`."
        )
    return state


def _parse(counts: tuple[str, ...]) -> dict[str, int]:
    from trtl.profiles.errors import ProfileError

    wanted = {}
    for item in counts:
        role, _, number = item.partition("=")
        if role and number.startswith("-") and number[1:].isdigit():
            raise ProfileError(f"{item!r}: a replica count is 0 or more.")
        if not role or not number.isdigit():
            raise ProfileError(
                f"{item!r} is not ROLE=N; give a worker role and a replica count, e.g. decode=2."
            )
        wanted[role] = int(number)
    return wanted


def scaled(profile, wanted: dict[str, int], deployment: str):
    """``profile`` with the replica counts in ``wanted``. Raises ProfileError."""
    from pydantic import ValidationError
    from trtl.profiles.errors import ProfileError
    from trtl.profiles.schema import Profile

    data = profile.model_dump(mode="json")
    roles = data["workers"]
    for role, count in wanted.items():
        if role not in roles:
            raise ProfileError(
                f"{deployment!r} has no worker role {role!r}; its roles: {', '.join(roles)}."
            )
        if count == 0:
            _refuse_zero(profile, role, deployment)
            del roles[role]
        else:
            roles[role]["replicas"] = count
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(
            f"scaling {deployment!r} this way is not valid: {where}: {first['msg']}."
        ) from None


def _refuse_zero(profile, role: str, deployment: str) -> None:
    from trtl.profiles.errors import ProfileError

    mode = profile.workers[role].mode
    same = [r for r, w in profile.workers.items() if w.mode == mode]
    if len(same) == 1:
        what = {"agg": "worker", "prefill": "prefill worker", "decode": "decode worker"}[mode]
        raise ProfileError(
            f"cannot scale {role} of {deployment!r} to 0: it is the only {mode} role, and the "
            f"graph needs at least one {what} to serve.",
            hint=f"Scale it to 1 or more, or stop the deployment with `trtl down {deployment}`.",
        )
