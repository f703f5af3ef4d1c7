"""vLLM (``python -m dynamo.vllm``, ai-dynamo 1.6.1, vLLM 0.31): on GPUs, or on CPU cores.

Profiles are written with TensorRT-LLM engine configs, so keys that vLLM can honour become
vLLM flags (``EQUIVALENTS``) and the rest are left out with a note, as for the mocker.
Disaggregated roles move KV blocks with NIXL: prefill is the producer, decode the consumer.
``kv_buffer_device`` is deliberately not written: vLLM defaults it to the device it runs on
(``cpu`` on a CPU build, ``cuda`` on GPUs), which keeps the argv identical on a CPU-only
workstation and in the GPU cluster (see ``profiles.identity``). The local additions (loopback,
NIXL handshake ports, CPU cores) are in ``local_worker``; the import side in ``vllm_read``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..identity import LOCAL_ONLY_FLAGS
from .argv import (
    compact,
    dashed,
    flatten,
    refuse_owned_flags,
    size_of,
    switch,
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
from .vllm_checks import cuda_build, head_size, needed_modules, owned_in_config_file

if TYPE_CHECKING:
    from ..schema import Profile, WorkerRole

NAME = "vllm"
MODULE = "dynamo.vllm"
# vLLM's own default publisher endpoint: one port per pod in the cluster. The local plan
# gives each replica a loopback port of its own instead (replicas share one machine).
KV_EVENTS_ENDPOINT = "tcp://*:5557"
KV_ROLES = {"prefill": "kv_producer", "decode": "kv_consumer"}
KV_TRANSFER_FLAG = "--kv-transfer-config"
KV_EVENTS_FLAG = "--kv-events-config"
MEMORY_FLAG = "--gpu-memory-utilization"
# vLLM's default --gpu-memory-utilization, when the profile gives none.
DEFAULT_MEMORY_UTILIZATION = 0.92
LOOPBACK = "127.0.0.1"
DEFAULT_ENV = {"UCX_NET_DEVICES": "lo"}
# What local_worker sets, and why (profiles.identity lists what every engine's plan adds).
LOCAL_ENV: dict[str, str] = {
    "VLLM_HOST_IP": "vLLM's own address on loopback (else it picks the outward interface)",
    "VLLM_NIXL_SIDE_CHANNEL_HOST": "vLLM prefill/decode: the NIXL handshake on loopback "
    "(in the cluster Dynamo finds the pod's address)",
    "VLLM_NIXL_SIDE_CHANNEL_PORT": "vLLM prefill/decode: a free NIXL handshake port per "
    "replica (replicas share this machine; each pod uses vLLM's 5600)",
    "VLLM_CPU_KVCACHE_SPACE": "vLLM on a machine without GPU: GiB of KV cache per worker "
    "(vllm.cpu_kv_cache_gib); on GPUs --gpu-memory-utilization sizes it",
    "VLLM_CPU_OMP_THREADS_BIND": "vLLM on a machine without GPU: the CPU cores of each "
    "replica, so that engines do not starve each other",
}
# What local_worker sets only where the profile leaves it unset (it may tune it).
LOCAL_DEFAULT_ENV: dict[str, str] = {
    "UCX_NET_DEVICES": "vLLM prefill/decode: NIXL's UCX transport on the loopback device (lo)",
    "UCX_TLS": "vLLM prefill/decode on a machine without GPU: UCX over tcp, self and sm, "
    "the transports such a machine has",
}
CPU_DEFAULT_ENV = {"UCX_TLS": "tcp,self,sm"}
# vLLM 0.31's CPU attention backend (CPUAttentionBackend.get_supported_head_sizes).
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
SETUP_CPU = "scripts/setup_vllm_cpu.sh"
CPU_VENV_PYTHON = ".cache/vllm-venv/bin/python"
GPU_FIX = 'a venv\'s python that has "ai-dynamo[vllm]==1.6.1"'

# TensorRT-LLM engine config keys with a vLLM equivalent, and the flag for each.
# free_gpu_memory_fraction is TensorRT-LLM's share of free memory for the KV cache and
# gpu_memory_utilization vLLM's share of the whole GPU for the engine; both are "how much
# of this GPU the engine may take", and the seed's 0.85 suits either.
EQUIVALENTS: dict[str, Callable[[Any], list[str]]] = {
    "max_batch_size": lambda v: ["--max-num-seqs", str(v)],
    "max_num_tokens": lambda v: ["--max-num-batched-tokens", str(v)],
    "max_seq_len": lambda v: ["--max-model-len", str(v)],
    "enable_chunked_prefill": switch("enable-chunked-prefill"),
    "trust_remote_code": switch("trust-remote-code"),
    "kv_cache_config.free_gpu_memory_fraction": lambda v: [MEMORY_FLAG, str(v)],
    "kv_cache_config.tokens_per_block": lambda v: ["--block-size", str(v)],
    "kv_cache_config.enable_block_reuse": switch("enable-prefix-caching"),
}
# Keys whose value here is what vLLM does anyway: nothing to pass, nothing lost.
SAME_AS_DEFAULT: dict[str, Any] = {"moe_expert_parallel_size": 1, "enable_attention_dp": False}

# Flags that profile fields own (vLLM also reads --foo_bar as --foo-bar). Not
# --kv-transfer-config: a connector of the user's own (LMCache, KVBM, a multi-connector)
# in vllm.extra_args/role_extra_args replaces the NIXL one trtl writes.
OWNED: dict[str, str] = {
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
CONFIG_FILE_OWNED = {
    **OWNED,
    KV_TRANSFER_FLAG: "the role's mode (prefill and decode get NIXL KV transfer settings)",
}
OWNED_PER_ROLE = {k: v for k, v in OWNED.items() if k != "--enforce-eager"}


def kv_transfer_config(mode: str) -> str:
    """The ``--kv-transfer-config`` JSON of a prefill or decode worker."""
    return compact({"kv_connector": "NixlConnector", "kv_role": KV_ROLES[mode]})


def kv_events_config(endpoint: str = KV_EVENTS_ENDPOINT) -> str:
    """The ``--kv-events-config`` JSON that makes vLLM publish KV events for the KV router."""
    return compact({"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": endpoint})


def with_kv_events_endpoint(args: list[str], endpoint: str) -> list[str]:
    """``args`` with the KV events endpoint replaced (the local plan's per-replica port)."""
    raw = value_of(args, KV_EVENTS_FLAG)
    if raw is None:
        return list(args)
    config = json.loads(raw)
    config["endpoint"] = endpoint
    return with_value(args, KV_EVENTS_FLAG, compact(config))


def vllm_args(profile: Profile, name: str, role: WorkerRole) -> tuple[list[str], list[str]]:
    """(args, notes) of one vLLM worker role, the profile's vllm flags last."""
    flat = flatten(role.engine_config) if isinstance(role.engine_config, dict) else {}
    args = ["--model", profile.model, "--served-model-name", profile.served_name]
    extra = [*profile.vllm.extra_args, *profile.vllm.role_extra_args.get(name, [])]
    if role.mode != "agg":
        args += ["--disaggregation-mode", role.mode]
        if KV_TRANSFER_FLAG not in dashed(extra):  # else the user's own connector
            args += [KV_TRANSFER_FLAG, kv_transfer_config(role.mode)]
    if role.tensor_parallel_size != 1:
        args += ["--tensor-parallel-size", str(role.tensor_parallel_size)]
    if role.pipeline_parallel_size != 1:
        args += ["--pipeline-parallel-size", str(role.pipeline_parallel_size)]
    if profile.vllm.enforce_eager:
        args.append("--enforce-eager")
    dropped: list[str] = []
    for key, value in flat.items():
        if key in EQUIVALENTS:
            args += EQUIVALENTS[key](value)
        elif key not in SAME_AS_DEFAULT or SAME_AS_DEFAULT[key] != value:
            dropped.append(key)
    if profile.frontend.router_mode == "kv":
        args += [KV_EVENTS_FLAG, kv_events_config()]
    return args + extra, _notes(name, role, dropped)


def _notes(name: str, role: WorkerRole, dropped: list[str]) -> list[str]:
    return translation_notes(
        name, role, dropped, title="vLLM", section=NAME, kv_how="NIXL (NixlConnector)"
    )


def uses_nixl(spec: ComponentSpec) -> bool:
    """Prefill and decode workers move KV blocks through NIXL and need a handshake port."""
    return spec.mode in ("prefill", "decode")


def publishes_kv_events(spec: ComponentSpec) -> bool:
    return KV_EVENTS_FLAG in spec.args


class VllmEngine(Engine):
    name = NAME
    title = "vLLM"
    module = MODULE
    framework = "vllm"
    image_repository = "nvcr.io/nvidia/ai-dynamo/vllm-runtime"
    uses_gpus = True
    cpu_without_gpu = True
    # NIXL 1.5.1's progress thread polls with no delay, and each vLLM worker polls its queue:
    # measured on a 2-core VM in docs/vllm-cpu.md.
    cpu_disagg_busy_polls = True
    needs_weights = True
    owned = OWNED
    local_env = LOCAL_ENV
    local_default_env = LOCAL_DEFAULT_ENV

    def build(self, profile: Profile, name: str, role: WorkerRole, config_dir: str) -> Built:
        args, notes = vllm_args(profile, name, role)
        refuse_owned_flags(dashed(profile.vllm.extra_args), OWNED, "vllm.extra_args")
        # One role may run eager while the others don't (imported graphs do): unless
        # vllm.enforce_eager already covers every role.
        owned = OWNED if profile.vllm.enforce_eager else OWNED_PER_ROLE
        own = profile.vllm.role_extra_args.get(name, [])
        refuse_owned_flags(dashed(own), owned, f"vllm.role_extra_args.{name}")
        return Built(args, notes=tuple(notes))

    def export_config(
        self, profile: Profile, name: str, role: WorkerRole, built: Built, config_dir: str
    ) -> dict[str, Any] | None:
        return None  # vLLM's settings are flags

    def data_parallel(self, args: list[str]) -> int | None:
        return size_of(args, ("--data-parallel-size", "-dp"))

    def extra_ports(self, spec: ComponentSpec) -> int:
        return int(uses_nixl(spec)) + int(publishes_kv_events(spec))

    def local_worker(self, spec: ComponentSpec, replica: Replica) -> LocalWorker:
        """Loopback for vLLM itself, the NIXL handshake on a free port per replica, a
        loopback port per replica for KV events, and in CPU mode the KV-cache size, UCX's
        CPU transports and the replica's cores (so that engines don't starve each other)."""
        args = list(spec.args)
        if replica.memory_fraction is not None:
            args = with_value(args, MEMORY_FLAG, str(replica.memory_fraction))
        env = {"VLLM_HOST_IP": LOOPBACK}
        default_env: dict[str, str] = {}
        named: dict[str, int] = {}
        free = iter(replica.ports)
        if uses_nixl(spec):
            named["nixl"] = next(free)
            env["VLLM_NIXL_SIDE_CHANNEL_HOST"] = LOOPBACK
            env["VLLM_NIXL_SIDE_CHANNEL_PORT"] = str(named["nixl"])
            default_env.update(DEFAULT_ENV)
            if replica.cpu_bind is not None:
                default_env.update(CPU_DEFAULT_ENV)
        if publishes_kv_events(spec):
            named["kv_events"] = next(free)
            args = with_kv_events_endpoint(args, f"tcp://{LOOPBACK}:{named['kv_events']}")
        if replica.cpu_bind is not None:
            env["VLLM_CPU_OMP_THREADS_BIND"] = replica.cpu_bind
        if replica.cpu_kv_cache_gib is not None:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(replica.cpu_kv_cache_gib)
        return LocalWorker(args, env, default_env, named)

    def memory_fraction(self, spec: ComponentSpec) -> float | None:
        """The share of a GPU's memory a vLLM worker takes (its --gpu-memory-utilization)."""
        raw = value_of(list(spec.args), MEMORY_FLAG)
        try:
            value = float(raw) if raw is not None else DEFAULT_MEMORY_UTILIZATION
        except ValueError:
            return DEFAULT_MEMORY_UTILIZATION
        return value if 0 < value <= 1 else DEFAULT_MEMORY_UTILIZATION

    def needs(self, disaggregated: bool) -> tuple[str, ...]:
        return (MODULE, "vllm", *(("nixl",) if disaggregated else ()))

    def distributions(self) -> tuple[str, ...]:
        return ("vllm", "vllm-cpu", "nixl")

    def check_packages(
        self, found: Packages, *, cpu_only: bool, disaggregated: bool
    ) -> Refusal | None:
        missing = [m for m in (MODULE, "vllm") if not found.modules.get(m)]
        if missing:
            return Refusal(
                f"vLLM ({' and '.join(missing)}) is not importable by the Python that runs the "
                f"workers, {found.python} (Python {found.version}).",
                self.install_hint(cpu_only),
            )
        if cpu_only and cuda_build(found.distributions):
            return Refusal(
                f"the vLLM in {found.python} is a GPU build "
                f"(vllm {found.distributions['vllm']}), and this machine has no GPU.",
                f"Build the CPU one with {SETUP_CPU} and pass --python {CPU_VENV_PYTHON}.",
            )
        if disaggregated and not found.modules.get("nixl"):
            return Refusal(
                f"nixl is not importable by {found.python}, and vLLM's prefill and decode "
                "workers move KV blocks through it.",
                "Install it there (pip install nixl==1.5.1; ai-dynamo[vllm] brings it, "
                f"as does {SETUP_CPU}), or run an aggregated profile (agg, agg_router).",
            )
        return None

    def worker_needs(self, argv: list[str]) -> tuple[str, ...]:
        """The packages of the worker's KV connector (LMCache, KVBM, ...), if it names one."""
        return tuple(needed_modules(argv))

    def check_worker_packages(self, found: Packages, argv: list[str]) -> Refusal | None:
        """A KV connector of an imported graph (LMCache, KVBM, ...) needs its package here
        (NIXL is ``check_packages``'s)."""
        for module, connector in needed_modules(argv).items():
            if module != "nixl" and not found.modules.get(module):
                return Refusal(
                    f"the workers move KV blocks with {connector}, which needs the {module} "
                    f"package, and {found.python} cannot import it.",
                    f"Install {module} there, or drop {KV_TRANSFER_FLAG} from the role's "
                    "vllm.role_extra_args to use trtl's NIXL settings.",
                )
        return None

    def install_hint(self, cpu_only: bool) -> str:
        if cpu_only:
            return (
                f"This machine has no GPU: build a CPU vLLM with {SETUP_CPU} and pass "
                f"--python {CPU_VENV_PYTHON}."
            )
        return f"Pass --python with {GPU_FIX}, or without a GPU build one with {SETUP_CPU}."

    def check_model(self, config: dict[str, Any], *, cpu_only: bool, source: str) -> str | None:
        if not cpu_only:
            return None
        head, how = head_size(config)
        if head is not None and head not in CPU_HEAD_SIZES:
            return (
                f"has attention head size {head} ({how} in {source}), which vLLM's CPU "
                "attention does not "
                f"support (it takes {', '.join(map(str, CPU_HEAD_SIZES))})"
            )
        return None

    def check_worker(
        self, name: str, mode: str | None, argv: list[str], read_yaml: Callable[[str], Any]
    ) -> Refusal | None:
        refusal = owned_in_config_file(name, argv, read_yaml, CONFIG_FILE_OWNED)
        if refusal or mode != "prefill":
            return refusal
        setting = value_of(argv, KV_TRANSFER_FLAG)
        try:
            config = json.loads(setting) if setting else None
        except ValueError:
            config = None
        if not isinstance(config, dict) or config.get("kv_role") not in ("kv_producer", "kv_both"):
            return Refusal(
                f"{name} is a vLLM prefill worker without KV transfer settings "
                f"({KV_TRANSFER_FLAG} {setting or 'missing'}), so decode would never get its "
                "KV blocks.",
                "This is a trtl bug: please report it with `trtl plan --json`.",
            )
        return None

    def doctor(self, found: Packages, *, has_gpus: bool, another_engine: bool) -> Verdict | None:
        """Missing, vLLM is worth a warning only where no other real engine runs."""
        version = found.distributions.get("vllm") or found.distributions.get("vllm-cpu")
        if version is None or not found.modules.get("vllm"):
            return Verdict(
                "vllm",
                "ok" if another_engine else "warning",
                f"vLLM is not importable in {found.python}: --engine vllm cannot run with it",
                f"On a CPU machine `bash {SETUP_CPU}` builds one; then pass "
                f"--python {CPU_VENV_PYTHON}.",
            )
        nixl = "nixl for disaggregated KV transfer" if found.modules.get("nixl") else "no nixl"
        build = "CPU build" if found.distributions.get("vllm-cpu") else "build"
        return Verdict("vllm", "ok", f"vLLM {version} ({build}), {nixl}")

    def read(self, command: WorkerCommand, notes: list[str]) -> RoleRead:
        from .vllm_read import read_vllm

        return read_vllm(command, notes)

    def settings(self, reads: dict[str, RoleRead]) -> dict[str, Any]:
        """The profile's vllm section: flags every worker shares, and each role's own."""
        eager = all(r.extra.get("eager") for r in reads.values())
        own = {
            name: [*(["--enforce-eager"] if r.extra.get("eager") and not eager else []),
                   *r.extra.get("args", [])]
            for name, r in reads.items()
        }  # fmt: skip
        lists = list(own.values())
        if all(args == lists[0] for args in lists):
            return {NAME: {"enforce_eager": eager, "extra_args": lists[0]}}
        per_role = {n: a for n, a in own.items() if a}
        return {NAME: {"enforce_eager": eager, "role_extra_args": per_role}}


ENGINE = VllmEngine()
