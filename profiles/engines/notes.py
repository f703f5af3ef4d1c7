"""Notes shared by engines that translate a role's TensorRT-LLM settings into their own flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..schema import WorkerRole


def translation_notes(
    name: str, role: WorkerRole, dropped: list[str], *, title: str, section: str, kv_how: str
) -> list[str]:
    """What of role ``name`` engine ``title`` leaves out: engine_config keys it has no
    equivalent of (``dropped``), a TensorRT-LLM config file, a KV transfer backend other
    than NIXL (``kv_how`` says how it moves KV blocks), TensorRT-LLM extra_args (its own go
    into the ``section:`` block of the profile)."""
    notes = []
    where = f"workers.{name}"
    if dropped:
        notes.append(
            f"{where}: {title} has no equivalent of engine_config {', '.join(dropped)}; left out."
        )
    if isinstance(role.engine_config, str):
        notes.append(
            f"{where}: {title} cannot read the TensorRT-LLM engine_config file "
            f"{role.engine_config}; left out (give {title} flags in {section}.extra_args)."
        )
    if role.kv_transfer_backend in ("UCX", "MPI"):
        notes.append(
            f"{where}: {title} moves KV blocks with {kv_how}; kv_transfer_backend "
            f"{role.kv_transfer_backend} left out."
        )
    if role.extra_args:
        notes.append(
            f"{where}: extra_args are TensorRT-LLM flags and are dropped for {title}; "
            f"use {section}.extra_args or {section}.role_extra_args.{name} for {title} flags."
        )
    return notes
