"""Options every profile-reading command shares: --engine, --model and --set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

ENGINES = ("trtllm", "mocker", "vllm")


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
    func = click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default=None,
        help="Run the workers on TensorRT-LLM, on vLLM (on CPU where there is no GPU), or on "
        "Dynamo's mock engine (no GPU needed).",
    )(func)
    return func


def load(profile_ref: str, engine: str | None, model: str | None, overrides: tuple[str, ...]):
    """Resolve a profile reference with the shared options applied.

    A DynamoGraphDeployment file works wherever a profile does: it is imported on the fly
    (k8s_export is loaded only then, so plain profiles stay fast).
    """
    from pathlib import Path

    from profiles.loader import is_file_reference, load_profile

    path = Path(profile_ref).expanduser()
    if is_file_reference(profile_ref) and path.is_file():
        from k8s_export import is_kubernetes_file

        if is_kubernetes_file(path):
            from k8s_export import load_dgd
            from launcher.terminal import note_line

            notes: list[str] = []
            profile = load_dgd(path, overrides=overrides, model=model, engine=engine, notes=notes)
            for note in notes:
                note_line(note)
            return profile
    _say_override(profile_ref)
    return load_profile(profile_ref, overrides=overrides, model=model, engine=engine)


def _say_override(profile_ref: str) -> None:
    """A name that means a project or user profile instead of the built-in is said aloud."""
    from profiles.loader import is_file_reference, overridden_builtins

    if is_file_reference(profile_ref):
        return
    source = overridden_builtins().get(profile_ref)
    if source is not None:
        from launcher.terminal import note_line

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
    """Build the local plan from the shared plan options. Raises TrtlError subclasses."""
    import os

    from launcher.planning.plan import PlanOptions, build_plan
    from profiles.errors import PlacementError

    if gpus is not None and not gpus.isprintable():
        # Messages quote --gpus bare; a newline in it would split the one-line error.
        raise PlacementError(
            f"--gpus {gpus!r} is not a list of GPUs; give indices or UUIDs, e.g. --gpus 0,1."
        )
    options = PlanOptions(
        deployment=name,
        http_port=port,
        http_host=host,
        gpus=gpus,
        python=python,
        inherited_cvd=os.environ.get("CUDA_VISIBLE_DEVICES"),
        share_gpus=share_gpus,
    )
    return build_plan(profile, options)
