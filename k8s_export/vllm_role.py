"""One DGD ``dynamo.vllm`` worker → profile role data: the reverse of ``profiles.vllm_args``.

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

from profiles.errors import ProfileError
from profiles.identity import LOCAL_ONLY_FLAGS
from profiles.vllm_args import KV_EVENTS_FLAG, KV_ROLES, KV_TRANSFER_FLAG

from .commands import int_flag, nested, number, take, vllm_flags
from .shapes import Component

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


def read_vllm(
    c: Component, args: list[str], router_mode: str, label: str, notes: list[str]
) -> tuple[str | None, str | None, dict[str, Any], list[str], bool]:
    """(model, served name, role data, leftover flags, enforce-eager) of a vLLM worker.

    Raises ProfileError for KV transfer settings trtl cannot write.
    """
    value_flags, switch_flags = vllm_flags()
    switches = frozenset({*switch_flags, *LEGACY_MODES, *EAGER})
    args = _dashed(args, FLAGS | set(value_flags) | switches)
    values, seen, rest = take(args, FLAGS | set(value_flags), switches)
    mode = values.get("--disaggregation-mode")
    for switch, legacy in LEGACY_MODES.items():
        if switch in seen:
            mode = legacy
            notes.append(
                f"component {c.name}: {switch} is gone from Dynamo; written as "
                f"--disaggregation-mode {legacy}."
            )
    role: dict[str, Any] = {"mode_arg": mode}
    for key, flags in PARALLEL.items():
        for flag in flags:
            size = int_flag(values, flag, c.name, label)
            if size is not None:
                role[key] = size
    flat = {value_flags[f]: number(v) for f, v in values.items() if f in value_flags}
    flat.update(dict(switch_flags[s] for s in seen if s in switch_flags))
    if flat:
        role["engine_config"] = nested(flat)
    if _kv_transfer(c, values.get(KV_TRANSFER_FLAG), mode, label, notes):
        rest = [KV_TRANSFER_FLAG, values[KV_TRANSFER_FLAG], *rest]  # the role's own connector
    if KV_EVENTS_FLAG in values and router_mode != "kv":
        notes.append(
            f"component {c.name}: left out {KV_EVENTS_FLAG}; trtl writes it for the KV router "
            "(frontend.router_mode: kv) only."
        )
    eager = next((EAGER[s] for s in reversed(args) if s in EAGER), False)
    return values.get("--model"), values.get("--served-model-name"), role, rest, eager


def _dashed(args: list[str], known: set[str] | frozenset[str]) -> list[str]:
    """``args`` with trtl's own flags in their dashed form: vLLM reads ``--foo_bar`` as
    ``--foo-bar``, so ``--kv_transfer_config=...`` is the same setting as
    ``--kv-transfer-config ...`` and must become the same profile field."""
    out = []
    for arg in args:
        flag, eq, value = arg.partition("=")
        dashed = flag.replace("_", "-")
        out.append(dashed + eq + value if flag.startswith("--") and dashed in known else arg)
    return out


def _kv_transfer(
    c: Component, raw: str | None, mode: str | None, label: str, notes: list[str]
) -> bool:
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
            f"{label}: component {c.name!r}: {KV_TRANSFER_FLAG} is not a JSON object: {raw!r}."
        )
    connector = config.get("kv_connector")
    if connector != "NixlConnector" or mode not in KV_ROLES:
        notes.append(
            f"component {c.name}: kept its {KV_TRANSFER_FLAG} ({connector}); locally the "
            "worker's Python needs what that connector imports."
        )
        return True
    ours = {"kv_connector": "NixlConnector", "kv_role": KV_ROLES[mode]}
    if config != ours:
        notes.append(
            f"component {c.name}: {KV_TRANSFER_FLAG} becomes trtl's "
            f"{json.dumps(ours, separators=(',', ':'))} (it had {raw})."
        )
    return False
