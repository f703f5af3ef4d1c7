"""Options every profile-reading command shares: --engine, --model and --set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

ENGINES = ("trtllm", "mocker")


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
        help="Run the workers on TensorRT-LLM, or on Dynamo's mock engine (no GPU needed).",
    )(func)
    return func


def load(profile_ref: str, engine: str | None, model: str | None, overrides: tuple[str, ...]):
    """Resolve a profile reference with the shared options applied."""
    from profiles.loader import load_profile

    return load_profile(profile_ref, overrides=overrides, model=model, engine=engine)
