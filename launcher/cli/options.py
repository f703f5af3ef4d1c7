"""Options every profile-reading command shares: --engine, --model and --set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--engine``, ``--model`` and ``--set`` to a command."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a profile setting, e.g. --set workers.decode.replicas=2 (repeatable).",
    )(func)
    func = click.option("--model", default=None, help="HF model id or local model directory.")(func)
    from trtl.profiles.engines import ENGINES

    titles = ", ".join(f"{name} ({eng.title})" for name, eng in ENGINES.items())
    func = click.option(
        "--engine",
        type=click.Choice(tuple(ENGINES)),
        default=None,
        help=f"The engine the workers run on: {titles}. The mocker needs no GPU; "
        "engines that run on CPU do so where there is no GPU.",
    )(func)
    return func


def load(profile_ref: str, engine: str | None, model: str | None, overrides: tuple[str, ...]):
    """Resolve a profile reference with the shared options applied (``launcher.api.load``).

    A DynamoGraphDeployment file works wherever a profile does; what was left out of it is
    said on stderr.
    """
    from trtl.launcher import api

    notes: list[str] = []
    stream = _stream_path(profile_ref)
    if stream is not None:
        profile = _load_stream(stream, engine, model, overrides, notes)
    else:
        profile = api.load(profile_ref, engine=engine, model=model, set=overrides, notes=notes)
    if notes:
        from trtl.launcher.terminal import note_line

        for note in notes:
            note_line(note)
    else:
        _say_override(profile_ref)
    return profile


def _stream_path(profile_ref: str) -> Path | None:
    """The path of a pipe given as PROFILE (/dev/stdin, `<(kubectl get dgd x -o yaml)`)."""
    from trtl.profiles.loader import is_file_reference
    from trtl.profiles.yaml_source import is_stream

    path = Path(profile_ref).expanduser()
    return path if is_file_reference(profile_ref) and is_stream(path) else None


def _load_stream(
    path: Path, engine: str | None, model: str | None, overrides: tuple[str, ...], notes: list
):
    """A profile or DGD from a pipe: read once (``yaml_source.is_stream``), as a file is."""
    from trtl.launcher import api
    from trtl.launcher.planning import plan_cache

    # A cached plan is checked against its files' content, which a pipe no longer has on
    # the next run: `trtl up /dev/stdin` must never start the plan of yesterday's input.
    plan_cache.ENTRY_ARGS = None
    return api.load(str(path), engine=engine, model=model, set=overrides, notes=notes)


def _say_override(profile_ref: str) -> None:
    """A name that means a project or user profile instead of the built-in is said aloud."""
    from trtl.profiles.loader import is_file_reference, overridden_builtins

    if is_file_reference(profile_ref):
        return
    source = overridden_builtins().get(profile_ref)
    if source is not None:
        from trtl.launcher.terminal import note_line

        note_line(
            f"'{profile_ref}' is the {source.origin} profile {source.path}, which overrides "
            f"the built-in {profile_ref}"
        )


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape a local plan: --name, --port, --host, --gpus, --share-gpus,
    --python."""
    func = click.option(
        "--share-gpus",
        "share_gpus",
        is_flag=True,
        default=False,
        help="Let workers share GPUs when there are too few (development only: the KV-cache "
        "memory fraction is split; timings are not representative).",
    )(func)
    func = click.option(
        "--python",
        "python",
        default=None,
        metavar="PATH",
        help="Python that runs Dynamo (a venv's python); default: the profile's, else trtl's.",
    )(func)
    func = click.option("--gpus", default=None, help="GPUs to use: indices or UUIDs, e.g. 0,1.")(
        func
    )
    func = click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        metavar="ADDR",
        help="Address the frontend listens on; 0.0.0.0 opens it to the network. Workers "
        "always stay on loopback.",
    )(func)
    func = click.option(
        "--port", type=click.IntRange(1, 65535), default=None, help="Frontend HTTP port."
    )(func)
    func = click.option(
        "--name", default=None, help="Deployment name (default: the profile's name)."
    )(func)
    return func


def plan_for(profile, *, name, port, gpus, python, share_gpus=False, host="127.0.0.1"):
    """Build the local plan from the shared plan options (``launcher.api.plan_for``)."""
    from trtl.launcher import api

    return api.plan_for(
        profile, name=name, port=port, gpus=gpus, python=python, share_gpus=share_gpus, host=host
    )
