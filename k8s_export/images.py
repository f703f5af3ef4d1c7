"""The container image an export runs when the user names none: NVIDIA's runtime image.

Dynamo publishes one runtime image per engine and release on NGC; each engine of the
registry names its own (``Engine.default_image``). This module adds only the version: that
of the ai-dynamo package in use, else ``DYNAMO_VERSION`` (the release trtl is built and
tested against).
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.engines import engine

DYNAMO_VERSION = "1.6.1"


def default_image(engine_name: str, dynamo_version: str | None = None) -> str:
    """NVIDIA's runtime image of the engine for ``dynamo_version`` (default: the one in use)."""
    return engine(engine_name).default_image(dynamo_version or dynamo_in_use())


def describe(engine_name: str, dynamo_version: str | None = None) -> str:
    """``NVIDIA's runtime image of TensorRT-LLM workers for Dynamo 1.6.1``, for the note."""
    title = engine(engine_name).title
    return (
        f"NVIDIA's runtime image of {title} workers for Dynamo {dynamo_version or dynamo_in_use()}"
    )


def dynamo_in_use() -> str:
    """The installed ai-dynamo version, else the release trtl is tested against."""
    from importlib import metadata

    try:
        return metadata.version("ai-dynamo")
    except metadata.PackageNotFoundError:
        return DYNAMO_VERSION


def needs_image(profile: Any) -> bool:
    """Whether some exported component would have no image (none graph-wide or its own)."""
    if profile.k8s.image:
        return False
    roles = [r.k8s for r in profile.workers.values()]
    launch = profile.frontend.k8s.launch
    if launch is None or launch.in_cluster:
        roles.append(profile.frontend.k8s)
    return any(not own.image for own in roles)
