"""How a worker role becomes a ``python -m dynamo.vllm`` command line (ai-dynamo 1.6.1, vLLM 0.31).

The engine table (``profiles.engines``) calls ``vllm_args``; the local plan and the export
both start from its result, so a vLLM worker runs the same arguments everywhere. Profiles
are written with TensorRT-LLM engine configs, so keys that vLLM can honour become vLLM
flags (``VLLM_EQUIVALENTS``) and the rest are left out with a note, as for the mocker.

Disaggregated roles move KV blocks with NIXL: prefill is the producer, decode the consumer.
``kv_buffer_device`` is deliberately not written: vLLM defaults it to the device it runs on
(``cpu`` on a CPU build, ``cuda`` on GPUs), which keeps the argv identical on a CPU-only
workstation and in the GPU cluster (see ``profiles.identity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .identity import LOCAL_ONLY_FLAGS
from .schema import Profile, WorkerRole

VLLM_MODULE = "dynamo.vllm"
# vLLM's own default publisher endpoint: one port per pod in the cluster. The local plan
# gives each replica a loopback port of its own instead (replicas share one machine).
KV_EVENTS_ENDPOINT = "tcp://*:5557"
KV_ROLES = {"prefill": "kv_producer", "decode": "kv_consumer"}
KV_TRANSFER_FLAG = "--kv-transfer-config"
KV_EVENTS_FLAG = "--kv-events-config"


def _switch(flag: str) -> Callable[[Any], list[str]]:
    # vLLM's boolean flags are BooleanOptionalAction: --x turns on, --no-x turns off.
    return lambda v: [f"--{flag}" if v else f"--no-{flag}"]


# TensorRT-LLM engine config keys with a vLLM equivalent, and the flag for each.
# free_gpu_memory_fraction is TensorRT-LLM's share of free memory for the KV cache and
# gpu_memory_utilization vLLM's share of the whole GPU for the engine; both are "how much
# of this GPU the engine may take", and the seed's 0.85 suits either.
VLLM_EQUIVALENTS: dict[str, Callable[[Any], list[str]]] = {
    "max_batch_size": lambda v: ["--max-num-seqs", str(v)],
    "max_num_tokens": lambda v: ["--max-num-batched-tokens", str(v)],
    "max_seq_len": lambda v: ["--max-model-len", str(v)],
    "enable_chunked_prefill": _switch("enable-chunked-prefill"),
    "trust_remote_code": _switch("trust-remote-code"),
    "kv_cache_config.free_gpu_memory_fraction": lambda v: ["--gpu-memory-utilization", str(v)],
    "kv_cache_config.tokens_per_block": lambda v: ["--block-size", str(v)],
    "kv_cache_config.enable_block_reuse": _switch("enable-prefix-caching"),
}
# Keys whose value here is what vLLM does anyway: nothing to pass, nothing lost.
VLLM_SAME_AS_DEFAULT: dict[str, Any] = {"moe_expert_parallel_size": 1, "enable_attention_dp": False}

# Flags that profile fields own (vLLM also reads --foo_bar as --foo-bar). Not
# --kv-transfer-config: a connector of the user's own (LMCache, KVBM, a multi-connector)
# in vllm.extra_args/role_extra_args replaces the NIXL one trtl writes.
VLLM_OWNED: dict[str, str] = {
    **LOCAL_ONLY_FLAGS,
    "--model": "model (or --model)",
    "--served-model-name": "served_model_name",
    "--disaggregation-mode": "the role's mode",
    KV_EVENTS_FLAG: "frontend.router_mode (the KV router gets each worker's KV events)",
    "--tensor-parallel-size": "the role's tensor_parallel_size",
    "-tp": "the role's tensor_parallel_size",
    "--pipeline-parallel-size": "the role's pipeline_parallel_size",
    "-pp": "the role's pipeline_parallel_size",
    "--enforce-eager": "vllm.enforce_eager",
    "--no-enforce-eager": "vllm.enforce_eager",
}
# A --config file may not name a connector either: trtl's flag would silently win over it.
VLLM_CONFIG_FILE_OWNED = {
    **VLLM_OWNED,
    KV_TRANSFER_FLAG: "the role's mode (prefill and decode get NIXL KV transfer settings)",
}
VLLM_OWNED_PER_ROLE = {k: v for k, v in VLLM_OWNED.items() if k != "--enforce-eager"}


def kv_transfer_config(mode: str) -> str:
    """The ``--kv-transfer-config`` JSON of a prefill or decode worker."""
    return _compact({"kv_connector": "NixlConnector", "kv_role": KV_ROLES[mode]})


def kv_events_config(endpoint: str = KV_EVENTS_ENDPOINT) -> str:
    """The ``--kv-events-config`` JSON that makes vLLM publish KV events for the KV router."""
    return _compact({"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": endpoint})


def with_kv_events_endpoint(args: list[str], endpoint: str) -> list[str]:
    """``args`` with the KV events endpoint replaced (the local plan's per-replica port)."""
    if KV_EVENTS_FLAG not in args:
        return list(args)
    out = list(args)
    at = out.index(KV_EVENTS_FLAG) + 1
    config = json.loads(out[at])
    config["endpoint"] = endpoint
    out[at] = _compact(config)
    return out


def vllm_args(
    profile: Profile, name: str, role: WorkerRole, flat_config: dict[str, Any] | None
) -> tuple[list[str], list[str], list[str]]:
    """(args, extra args from the profile's vllm section, notes) for one vLLM worker role.

    ``flat_config`` is the role's engine_config mapping with dotted keys, or None.
    """
    args = ["--model", profile.model, "--served-model-name", profile.served_name]
    extra = [*profile.vllm.extra_args, *profile.vllm.role_extra_args.get(name, [])]
    if role.mode != "agg":
        args += ["--disaggregation-mode", role.mode]
        if KV_TRANSFER_FLAG not in normalised_flags(extra):  # else the user's connector
            args += [KV_TRANSFER_FLAG, kv_transfer_config(role.mode)]
    if role.tensor_parallel_size != 1:
        args += ["--tensor-parallel-size", str(role.tensor_parallel_size)]
    if role.pipeline_parallel_size != 1:
        args += ["--pipeline-parallel-size", str(role.pipeline_parallel_size)]
    if profile.vllm.enforce_eager:
        args.append("--enforce-eager")
    dropped: list[str] = []
    for key, value in (flat_config or {}).items():
        if key in VLLM_EQUIVALENTS:
            args += VLLM_EQUIVALENTS[key](value)
        elif key not in VLLM_SAME_AS_DEFAULT or VLLM_SAME_AS_DEFAULT[key] != value:
            dropped.append(key)
    if profile.frontend.router_mode == "kv":
        args += [KV_EVENTS_FLAG, kv_events_config()]
    notes = _notes(name, role, dropped)
    return args, extra, notes


def _notes(name: str, role: WorkerRole, dropped: list[str]) -> list[str]:
    notes = []
    if dropped:
        notes.append(
            f"workers.{name}: vLLM has no equivalent of engine_config {', '.join(dropped)}; "
            "left out."
        )
    if isinstance(role.engine_config, str):
        notes.append(
            f"workers.{name}: vLLM cannot read the TensorRT-LLM engine_config file "
            f"{role.engine_config}; left out (give vLLM flags in vllm.extra_args)."
        )
    if role.kv_transfer_backend in ("UCX", "MPI"):
        notes.append(
            f"workers.{name}: vLLM moves KV blocks with NIXL (NixlConnector); "
            f"kv_transfer_backend {role.kv_transfer_backend} left out."
        )
    if role.extra_args:
        notes.append(
            f"workers.{name}: extra_args are TensorRT-LLM flags and are dropped for vLLM; "
            f"use vllm.extra_args or vllm.role_extra_args.{name} for vLLM flags."
        )
    return notes


def normalised_flags(args: list[str]) -> list[str]:
    """Flags as vLLM reads them: ``--foo_bar=1`` is ``--foo-bar``."""
    return [arg.split("=", 1)[0].replace("_", "-") if arg.startswith("--") else arg for arg in args]


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
