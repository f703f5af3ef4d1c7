"""The container image an export runs when the user names none: NVIDIA's runtime image.

Dynamo publishes one runtime image per engine and release on NGC
(``nvcr.io/nvidia/ai-dynamo/<engine>-runtime:<dynamo version>``); every one also ships
``dynamo.frontend`` and ``dynamo.mocker``. ``default_image`` is the single place that
knows the names; the version is that of the ai-dynamo package in use, else
``DYNAMO_VERSION`` (the release trtl is built and tested against).
"""

from __future__ import annotations

from typing import Any

DYNAMO_VERSION = "1.6.1"
REGISTRY = "nvcr.io/nvidia/ai-dynamo"
RUNTIMES = {
    "trtllm": ("tensorrtllm-runtime", "TensorRT-LLM"),
    "vllm": ("vllm-runtime", "vLLM"),
    "sglang": ("sglang-runtime", "SGLang"),
    "mocker": ("tensorrtllm-runtime", "TensorRT-LLM"),  # any runtime image has the mocker
}


def default_image(engine: str, dynamo_version: str | None = None) -> str:
    """NVIDIA's runtime image of ``engine`` for ``dynamo_version`` (default: the one in use)."""
    repo, _ = RUNTIMES.get(engine, RUNTIMES["trtllm"])
    return f"{REGISTRY}/{repo}:{dynamo_version or dynamo_in_use()}"


def describe(engine: str, dynamo_version: str | None = None) -> str:
    """``NVIDIA's TensorRT-LLM runtime image for Dynamo 1.6.1``, for the note on stderr."""
    _, label = RUNTIMES.get(engine, RUNTIMES["trtllm"])
    return f"NVIDIA's {label} runtime image for Dynamo {dynamo_version or dynamo_in_use()}"


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
