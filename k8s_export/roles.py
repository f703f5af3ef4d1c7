"""One DGD worker component → one profile role: engine, model, mode, config and flags.

The reverse of the engine table. The registry (``profiles.engines``) finds the engine by
the module the worker runs, and the engine's own ``read`` turns its flags back into role
fields; an engine config found through a mounted ConfigMap becomes the role's
``engine_config`` mapping (else the in-image path stays a path). Replicas and the
worker's mode (its component type and ``--disaggregation-mode`` must agree) are the same
for every engine, and read here.
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.engines import ENGINES, engine_of_module
from trtl.profiles.engines.base import RoleRead, WorkerCommand
from trtl.profiles.errors import ProfileError

from . import configmaps
from .commands import Command
from .shapes import Component

# The read of one worker (kept under its old name for from_dgd).
WorkerRead = RoleRead


def read_worker(
    c: Component,
    cmd: Command,
    configs: dict[str, dict[str, Any]],
    router_mode: str,
    label: str,
    notes: list[str],
) -> RoleRead:
    """The role data of worker component ``c``; raises ProfileError for what trtl cannot run."""
    eng = engine_of_module(cmd.module)
    if eng is None:
        runs = ", ".join(e.module for e in ENGINES.values())
        raise ProfileError(
            f"{label}: component {c.name!r} runs `python -m {cmd.module}`, which is not a "
            "Dynamo engine trtl knows.",
            hint=f"trtl runs {runs} workers.",
        )

    def config(path: str | None) -> dict[str, Any] | None:
        return configmaps.resolve(path, c.container, c.pod, configs, label)

    command = WorkerCommand(c.name, c.type, list(cmd.args), router_mode, label, config)
    read = eng.read(command, notes)
    replicas = 1 if c.replicas is None else int(c.replicas)
    if replicas < 1:  # 0: scaled to zero (k8s.launch.replicas keeps it for the export)
        notes.append(
            f"component {c.name}: replicas 0 (scaled to zero in the cluster); trtl runs 1 "
            "locally, and the export writes 0 again."
        )
        replicas = 1
    read.role = {"mode": _mode(c, read.role.pop("mode_arg", None), label), "replicas": replicas,
                 **read.role}  # fmt: skip
    if read.role["mode"] == "agg" and read.role.pop("kv_transfer_backend", None):
        notes.append(f"component {c.name}: left out the KV transfer backend of an agg worker.")
    return read


def _mode(c: Component, arg: str | None, label: str) -> str:
    typed = c.type if c.type in ("prefill", "decode") else None
    if arg in (None, "agg", "prefill_and_decode"):
        # The command decides: a decode-labelled worker without the flag runs aggregated
        # (k8s.launch.component_type keeps the label for the export).
        return "agg"
    if arg not in ("prefill", "decode"):
        raise ProfileError(
            f"{label}: component {c.name!r} runs --disaggregation-mode {arg}, which trtl "
            "cannot run (it runs agg, prefill and decode workers)."
        )
    if typed and typed != arg:
        raise ProfileError(
            f"{label}: component {c.name!r} has type {typed} but runs "
            f"--disaggregation-mode {arg}; make them agree."
        )
    return arg
