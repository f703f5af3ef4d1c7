"""``trtl export --explain``: the short list of what differs between a local run and the cluster."""

from __future__ import annotations

from trtl.profiles.engines import LOCAL_DEFAULT_ENV, LOCAL_ONLY_ENV
from trtl.profiles.identity import (
    CLUSTER_ONLY,
    LOCAL_ONLY_FLAGS,
    LOCAL_ONLY_SETTINGS,
    SAME_ARGS_ELSEWHERE,
)


def explain() -> str:
    """Human-readable text built from ``profiles.identity``, the one list in the code."""
    out = [
        "Every role runs the same module and arguments locally (`trtl up`, `trtl plan`) and in",
        "the cluster (`trtl export --k8s`); replicas are equal. Only these differ:",
        "",
        "Only locally, flags:",
        *_rows(LOCAL_ONLY_FLAGS),
        "Only locally, environment:",
        *_rows(LOCAL_ONLY_ENV),
        "Only locally, environment the profile does not set itself:",
        *_rows(LOCAL_DEFAULT_ENV),
        "Same argument, different place:",
        *_rows(SAME_ARGS_ELSEWHERE),
        "Only in the cluster:",
        *_rows(CLUSTER_ONLY),
        "Profile settings that never change the exported graph (kept in the trtl.dev/profile",
        "annotation, so `trtl import` gives them back):",
        *_rows(LOCAL_ONLY_SETTINGS),
    ]
    return "\n".join(out)


def _rows(table: dict[str, str]) -> list[str]:
    width = max(len(k) for k in table)
    return [f"  {key.ljust(width)}  {why}" for key, why in table.items()]
