"""One DGD ``dynamo.vllm`` worker → profile role data: the reverse of ``vllm.vllm_args``.

Flags the engine table writes from profile fields become those fields again: the model,
the served name, the mode, parallel sizes, ``--enforce-eager``, and the vLLM flags that
stand for TensorRT-LLM engine config keys (back into ``engine_config``). The NIXL
``--kv-transfer-config`` and the KV router's ``--kv-events-config`` are what the engine
table writes itself, so they are read and dropped; any other connector stays a flag of
its role.
The remaining flags come back in order, for ``vllm.extra_args``/``vllm.role_extra_args``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ProfileError
from ..identity import LOCAL_ONLY_FLAGS
from .argv import compact, config_from_flags, int_flag, inverted, take, with_dashed
from .base import RoleRead, WorkerCommand
from .vllm import EQUIVALENTS, KV_EVENTS_FLAG, KV_ROLES, KV_TRANSFER_FLAG, NAME

FLAGS = {
    "--model", "--served-model-name", "--disaggregation-mode", KV_TRANSFER_FLAG,
    KV_EVENTS_FLAG, "--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp",
    *LOCAL_ONLY_FLAGS,
}  # fmt: skip
# Dynamo releases before 0.5 marked disaggregated vLLM workers with these switches.
LEGACY_MODES = {"--is-prefill-worker": "prefill", "--is-decode-worker": "decode"}
EAGER = {"--enforce-eager": True, "--no-enforce-eager": False}
PARALLEL = {
    "tensor_parallel_size": ("--tensor-parallel-size", "-tp"),
    "pipeline_parallel_size": ("--pipeline-parallel-size", "-pp"),
}


def read_vllm(command: WorkerCommand, notes: list[str]) -> RoleRead:
    """Model, served name, role data, leftover flags and enforce-eager of a vLLM worker.

    Raises ProfileError for a --kv-transfer-config that is not a JSON object.
    """
    c, label = command.component, command.label
    table = inverted(EQUIVALENTS)
    switches = frozenset({*table.switches, *LEGACY_MODES, *EAGER})
    args = with_dashed(command.args, FLAGS | set(table.values) | switches)
    values, seen, rest = take(args, FLAGS | set(table.values), switches)
    mode = values.get("--disaggregation-mode")
    for flag, legacy in LEGACY_MODES.items():
        if flag in seen:
            mode = legacy
            notes.append(
                f"component {c}: {flag} is gone from Dynamo; written as "
                f"--disaggregation-mode {legacy}."
            )
    role: dict[str, Any] = {"mode_arg": mode}
    for key, flags in PARALLEL.items():
        for flag in flags:
            size = int_flag(values, flag, c, label)
            if size is not None:
                role[key] = size
    config = config_from_flags(table, values, seen)
    if config:
        role["engine_config"] = config
    if _kv_transfer(c, values.get(KV_TRANSFER_FLAG), mode, label, notes):
        rest = [KV_TRANSFER_FLAG, values[KV_TRANSFER_FLAG], *rest]  # the role's own connector
    if KV_EVENTS_FLAG in values and command.router_mode != "kv":
        notes.append(
            f"component {c}: runs locally without {KV_EVENTS_FLAG} (trtl writes it for the "
            "KV router, frontend.router_mode: kv, only); the export keeps it."
        )
    eager = next((EAGER[s] for s in reversed(args) if s in EAGER), False)
    extra = {"args": rest, "eager": eager}
    return RoleRead(NAME, values.get("--model"), values.get("--served-model-name"), role, extra)


def _kv_transfer(c: str, raw: str | None, mode: str | None, label: str, notes: list[str]) -> bool:
    """Check a worker's --kv-transfer-config; True when the role keeps it as its own flag.

    NIXL between prefill and decode is what the engine table writes itself. Any other
    connector (LMCache, Dynamo's KV block manager, a multi-connector) stays with the role.
    """
    if raw is None:
        return False
    try:
        config = json.loads(raw)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise ProfileError(
            f"{label}: component {c!r}: {KV_TRANSFER_FLAG} is not a JSON object: {raw!r}."
        )
    connector = config.get("kv_connector")
    if connector != "NixlConnector" or mode not in KV_ROLES:
        notes.append(
            f"component {c}: kept its {KV_TRANSFER_FLAG} ({connector}); locally the "
            "worker's Python needs what that connector imports."
        )
        return True
    ours = {"kv_connector": "NixlConnector", "kv_role": KV_ROLES[mode]}
    if config != ours:
        notes.append(
            f"component {c}: {KV_TRANSFER_FLAG} becomes trtl's {compact(ours)} (it had {raw})."
        )
    return False
