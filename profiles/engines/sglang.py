"""SGLang (``python -m dynamo.sglang``, ai-dynamo 1.6.1 pins SGLang 0.5.21): GPUs only.

Profiles are written with TensorRT-LLM engine configs, so keys that SGLang can honour
become SGLang flags (``EQUIVALENTS``, ``SWITCHES``) and the rest are left out with a note.
Disaggregated roles move KV blocks with NIXL (``--disaggregation-transfer-backend nixl``);
the prefill worker's bootstrap port is left to ``dynamo.sglang``, which reserves a free one
(replicas share a machine locally; the decode worker learns the port from each request).
With the KV router every worker publishes KV events over ZMQ (``--kv-events-config``).
SGLang has no CPU build: without a GPU only ``trtl plan`` and ``trtl export`` run it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ProfileError
from ..identity import LOCAL_ONLY_FLAGS
from .argv import (
    compact,
    flatten,
    int_flag,
    nested,
    number,
    refuse_owned_flags,
    size_of,
    take,
    value_of,
    with_value,
)
from .base import (
    Built,
    ComponentSpec,
    Engine,
    LocalWorker,
    Packages,
    Refusal,
    Replica,
    RoleRead,
    Verdict,
    WorkerCommand,
)
from .notes import translation_notes

if TYPE_CHECKING:
    from ..schema import Profile, WorkerRole

NAME = "sglang"
MODULE = "dynamo.sglang"
LOOPBACK = "127.0.0.1"
TRANSFER_FLAG = "--disaggregation-transfer-backend"
TRANSFER_BACKEND = "nixl"
KV_EVENTS_FLAG = "--kv-events-config"
# SGLang's default publisher endpoint: one port per pod in the cluster; locally each
# replica gets a loopback port of its own.
KV_EVENTS_ENDPOINT = "tcp://*:5557"
MEMORY_FLAG = "--mem-fraction-static"
BOOTSTRAP_FLAG = "--disaggregation-bootstrap-port"
FIX = (
    'Pass --python with a venv\'s python that has "ai-dynamo[sglang]==1.6.1" on a machine '
    "with NVIDIA GPUs (SGLang has no CPU build), or run the graph with --engine vllm or "
    "--engine mocker."
)

# TensorRT-LLM engine config keys with an SGLang value flag.
EQUIVALENTS: dict[str, Callable[[Any], list[str]]] = {
    "max_batch_size": lambda v: ["--max-running-requests", str(v)],
    "max_num_tokens": lambda v: ["--max-prefill-tokens", str(v)],
    "max_seq_len": lambda v: ["--context-length", str(v)],
    "kv_cache_config.free_gpu_memory_fraction": lambda v: [MEMORY_FLAG, str(v)],
    "kv_cache_config.tokens_per_block": lambda v: ["--page-size", str(v)],
}
# Keys whose one value differs from SGLang's default: (that value, its store_true flag).
SWITCHES: dict[str, tuple[Any, str]] = {
    "trust_remote_code": (True, "--trust-remote-code"),
    "kv_cache_config.enable_block_reuse": (False, "--disable-radix-cache"),
}
# Keys whose value here is what SGLang does anyway: nothing to pass, nothing lost.
SAME_AS_DEFAULT: dict[str, Any] = {
    "enable_chunked_prefill": True,
    "trust_remote_code": False,
    "kv_cache_config.enable_block_reuse": True,
    "moe_expert_parallel_size": 1,
    "enable_attention_dp": False,
}

OWNED: dict[str, str] = {
    **LOCAL_ONLY_FLAGS,
    "--model-path": "model (or --model)",
    "--model": "model (or --model)",
    "--served-model-name": "served_model_name",
    "--disaggregation-mode": "the role's mode",
    TRANSFER_FLAG: "the role's mode (prefill and decode move KV blocks with NIXL)",
    KV_EVENTS_FLAG: "frontend.router_mode (the KV router gets each worker's KV events)",
    "--tp-size": "the role's tensor_parallel_size",
    "--tp": "the role's tensor_parallel_size",
    "--pp-size": "the role's pipeline_parallel_size",
    "--pp": "the role's pipeline_parallel_size",
}
LOCAL_ENV: dict[str, str] = {
    "SGLANG_HOST_IP": "SGLang prefill/decode and KV events: the address a worker advertises, "
    "on loopback (in the cluster SGLang finds the pod's address)",
}
LOCAL_DEFAULT_ENV: dict[str, str] = {
    "UCX_NET_DEVICES": "prefill/decode: NIXL's UCX transport on the loopback device (lo)",
}
READ_FLAGS = {*OWNED, BOOTSTRAP_FLAG}
PARALLEL = {
    "tensor_parallel_size": ("--tp-size", "--tp"),
    "pipeline_parallel_size": ("--pp-size", "--pp"),
}


def kv_events_config(endpoint: str = KV_EVENTS_ENDPOINT) -> str:
    """The ``--kv-events-config`` JSON that makes SGLang publish KV events for the router."""
    return compact({"publisher": "zmq", "topic": "kv-events", "endpoint": endpoint})


def sglang_args(profile: Profile, name: str, role: WorkerRole) -> tuple[list[str], list[str]]:
    """(args, notes) of one SGLang worker role, the profile's sglang flags last."""
    args = ["--model-path", profile.model, "--served-model-name", profile.served_name]
    if role.mode != "agg":
        args += ["--disaggregation-mode", role.mode, TRANSFER_FLAG, TRANSFER_BACKEND]
    if role.tensor_parallel_size != 1:
        args += ["--tp-size", str(role.tensor_parallel_size)]
    if role.pipeline_parallel_size != 1:
        args += ["--pp-size", str(role.pipeline_parallel_size)]
    flat = flatten(role.engine_config) if isinstance(role.engine_config, dict) else {}
    dropped: list[str] = []
    for key, value in flat.items():
        if key in EQUIVALENTS:
            args += EQUIVALENTS[key](value)
        elif key in SWITCHES and SWITCHES[key][0] == value:
            args.append(SWITCHES[key][1])
        elif key not in SAME_AS_DEFAULT or SAME_AS_DEFAULT[key] != value:
            dropped.append(key)
    if profile.frontend.router_mode == "kv":
        args += [KV_EVENTS_FLAG, kv_events_config()]
    extra = [*profile.sglang.extra_args, *profile.sglang.role_extra_args.get(name, [])]
    return args + extra, _notes(name, role, dropped)


def _notes(name: str, role: WorkerRole, dropped: list[str]) -> list[str]:
    return translation_notes(name, role, dropped, title="SGLang", section=NAME, kv_how="NIXL")


class SglangEngine(Engine):
    name = NAME
    title = "SGLang"
    module = MODULE
    framework = "sglang"
    image_repository = "nvcr.io/nvidia/ai-dynamo/sglang-runtime"
    uses_gpus = True
    cpu_without_gpu = False
    needs_weights = True
    owned = OWNED
    local_env = LOCAL_ENV
    local_default_env = LOCAL_DEFAULT_ENV

    def build(self, profile: Profile, name: str, role: WorkerRole, config_dir: str) -> Built:
        args, notes = sglang_args(profile, name, role)
        refuse_owned_flags(profile.sglang.extra_args, OWNED, "sglang.extra_args")
        own = profile.sglang.role_extra_args.get(name, [])
        refuse_owned_flags(own, OWNED, f"sglang.role_extra_args.{name}")
        return Built(args, notes=tuple(notes))

    def export_config(
        self, profile: Profile, name: str, role: WorkerRole, built: Built, config_dir: str
    ) -> dict[str, Any] | None:
        return None  # SGLang's settings are flags

    def data_parallel(self, args: list[str]) -> int | None:
        """--dp-size, unless DP attention spreads it over the tensor-parallel ranks."""
        if "--enable-dp-attention" in args:
            return None
        return size_of(args, ("--dp-size", "--dp"))

    def extra_ports(self, spec: ComponentSpec) -> int:
        return int(KV_EVENTS_FLAG in spec.args)

    def local_worker(self, spec: ComponentSpec, replica: Replica) -> LocalWorker:
        """Loopback for what the worker advertises, UCX on the loopback device for NIXL,
        a loopback port per replica for KV events, and a shared GPU's memory split."""
        args = list(spec.args)
        if replica.memory_fraction is not None:
            args = with_value(args, MEMORY_FLAG, str(replica.memory_fraction))
        named: dict[str, int] = {}
        raw = value_of(args, KV_EVENTS_FLAG)
        if raw is not None:
            named["kv_events"] = replica.ports[0]
            config = {**json.loads(raw), "endpoint": f"tcp://{LOOPBACK}:{named['kv_events']}"}
            args = with_value(args, KV_EVENTS_FLAG, compact(config))
        split = spec.mode in ("prefill", "decode")
        default_env = {"UCX_NET_DEVICES": "lo"} if split else {}
        return LocalWorker(args, {"SGLANG_HOST_IP": LOOPBACK}, default_env, named)

    def memory_fraction(self, spec: ComponentSpec) -> float | None:
        raw = value_of(list(spec.args), MEMORY_FLAG)
        try:
            value = float(raw) if raw is not None else None
        except ValueError:
            return None
        return value if value is not None and 0 < value <= 1 else None

    def needs(self, disaggregated: bool) -> tuple[str, ...]:
        return (MODULE, "sglang", *(("nixl",) if disaggregated else ()))

    def distributions(self) -> tuple[str, ...]:
        return ("sglang",)

    def check_packages(
        self, found: Packages, *, cpu_only: bool, disaggregated: bool
    ) -> Refusal | None:
        if not found.modules.get("sglang"):
            return Refusal(
                f"SGLang (sglang) is not importable by the Python that runs the workers, "
                f"{found.python} (Python {found.version}).",
                FIX,
            )
        if disaggregated and not found.modules.get("nixl"):
            return Refusal(
                f"nixl is not importable by {found.python}, and SGLang's prefill and decode "
                "workers move KV blocks through it.",
                "Install it there (pip install nixl==1.5.1; ai-dynamo[sglang] brings it), or "
                "run an aggregated profile (agg, agg_router).",
            )
        return None

    def install_hint(self, cpu_only: bool) -> str:
        return FIX

    def check_model(self, config: dict[str, Any], *, cpu_only: bool, source: str) -> str | None:
        return None

    def check_worker(
        self, name: str, mode: str | None, argv: list[str], read_yaml: Callable[[str], Any]
    ) -> Refusal | None:
        if mode in ("prefill", "decode") and value_of(argv, TRANSFER_FLAG) != TRANSFER_BACKEND:
            return Refusal(
                f"{name} is an SGLang {mode} worker without NIXL KV transfer "
                f"({TRANSFER_FLAG} {value_of(argv, TRANSFER_FLAG) or 'missing'}).",
                "This is a trtl bug: please report it with `trtl plan --json`.",
            )
        return None

    def doctor(self, found: Packages, *, has_gpus: bool, another_engine: bool) -> Verdict | None:
        version = found.distributions.get("sglang")
        if version is None or not found.modules.get("sglang"):
            return Verdict(
                "sglang",
                "ok" if another_engine or not has_gpus else "warning",
                f"SGLang is not importable in {found.python}: --engine sglang cannot run with it",
                'On a GPU machine: pip install "ai-dynamo[sglang]==1.6.1".',
            )
        return Verdict("sglang", "ok", f"SGLang {version}")

    def read(self, command: WorkerCommand, notes: list[str]) -> RoleRead:
        c, label = command.component, command.label
        value_flags = {f: k for k, build in EQUIVALENTS.items() for f in build(0)[:1]}
        switches = {flag: (key, on) for key, (on, flag) in SWITCHES.items()}
        values, seen, rest = take(command.args, READ_FLAGS | set(value_flags), switches)
        role: dict[str, Any] = {"mode_arg": values.get("--disaggregation-mode")}
        for key, flags in PARALLEL.items():
            for flag in flags:
                size = int_flag(values, flag, c, label)
                if size is not None:
                    role[key] = size
        flat = {value_flags[f]: number(v) for f, v in values.items() if f in value_flags}
        flat.update(dict(switches[s] for s in seen))
        if flat:
            role["engine_config"] = nested(flat)
        _transfer(c, values.get(TRANSFER_FLAG), label)
        if BOOTSTRAP_FLAG in values:
            notes.append(
                f"component {c}: runs locally without {BOOTSTRAP_FLAG} (dynamo.sglang reserves "
                "a free port for each replica); the export keeps it."
            )
        if KV_EVENTS_FLAG in values and command.router_mode != "kv":
            notes.append(
                f"component {c}: runs locally without {KV_EVENTS_FLAG} (trtl writes it for the "
                "KV router, frontend.router_mode: kv, only); the export keeps it."
            )
        model = values.get("--model-path") or values.get("--model")
        return RoleRead(NAME, model, values.get("--served-model-name"), role, {"args": rest})

    def settings(self, reads: dict[str, RoleRead]) -> dict[str, Any]:
        """The profile's sglang section: flags every worker shares, and each role's own."""
        own = {name: list(r.extra.get("args", [])) for name, r in reads.items()}
        lists = list(own.values())
        if all(args == lists[0] for args in lists):
            return {NAME: {"extra_args": lists[0]}}
        return {NAME: {"role_extra_args": {n: a for n, a in own.items() if a}}}


def _transfer(c: str, backend: str | None, label: str) -> None:
    if backend is not None and backend != TRANSFER_BACKEND:
        raise ProfileError(
            f"{label}: component {c!r} moves KV blocks with {backend}, and trtl runs SGLang "
            "prefill/decode with nixl only.",
            hint=f"Apply the file itself (kubectl apply -f), or remove its {TRANSFER_FLAG}.",
        )


ENGINE = SglangEngine()
