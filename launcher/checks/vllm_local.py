"""What a vLLM worker needs on this machine only: loopback, ports and, without GPU, CPU cores.

The engine table decides a vLLM worker's argv for every machine; ``build_plan`` adds what
only a local run needs, all of it listed in ``profiles.identity``:

- every vLLM worker: ``VLLM_HOST_IP`` on loopback;
- prefill/decode workers (NIXL KV transfer): the NIXL handshake on loopback with a free
  port per replica, and UCX on the loopback device;
- workers of a KV-routed graph: a loopback port per replica for their KV events, because
  replicas share this machine where each pod has its own network in the cluster;
- on a machine without GPU ("CPU mode"): the KV-cache size, UCX's CPU transports and the
  CPU cores of each replica (``VLLM_CPU_OMP_THREADS_BIND``), so engines don't starve each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from profiles.engines import ComponentSpec
from profiles.schema import Profile
from profiles.vllm_args import KV_EVENTS_FLAG, VLLM_MODULE, with_kv_events_endpoint

LOOPBACK = "127.0.0.1"
DEFAULT_ENV = {"UCX_NET_DEVICES": "lo"}
CPU_DEFAULT_ENV = {"UCX_TLS": "tcp,self,sm"}
# vLLM's default --gpu-memory-utilization (0.31), when the profile gives none.
DEFAULT_MEMORY_UTILIZATION = 0.92
MEMORY_FLAG = "--gpu-memory-utilization"


def is_vllm(spec: ComponentSpec) -> bool:
    return spec.module == VLLM_MODULE


def uses_nixl(spec: ComponentSpec) -> bool:
    """Prefill and decode workers move KV blocks through NIXL and need a handshake port."""
    return is_vllm(spec) and spec.mode in ("prefill", "decode")


def publishes_kv_events(spec: ComponentSpec) -> bool:
    return is_vllm(spec) and KV_EVENTS_FLAG in spec.args


def extra_port_count(spec: ComponentSpec) -> int:
    """Ports per replica beyond the status port."""
    return int(uses_nixl(spec)) + int(publishes_kv_events(spec))


@dataclass(frozen=True)
class LocalWorker:
    """One vLLM replica's local additions."""

    args: list[str]
    env: dict[str, str]  # set by trtl: the profile may not set these
    default_env: dict[str, str]  # set by trtl where the profile's env leaves them unset
    ports: dict[str, int]


def local_worker(
    spec: ComponentSpec,
    args: list[str],
    ports: list[int],
    *,
    cpu_bind: str | None,
    cpu_kv_cache_gib: int | None,
) -> LocalWorker:
    """The loopback, port and CPU settings of one vLLM replica; ``ports`` are free ones.

    ``cpu_bind`` and ``cpu_kv_cache_gib`` are given in CPU mode only.
    """
    env = {"VLLM_HOST_IP": LOOPBACK}
    default_env: dict[str, str] = {}
    named: dict[str, int] = {}
    free = iter(ports)
    if uses_nixl(spec):
        named["nixl"] = next(free)
        env["VLLM_NIXL_SIDE_CHANNEL_HOST"] = LOOPBACK
        env["VLLM_NIXL_SIDE_CHANNEL_PORT"] = str(named["nixl"])
        default_env.update(DEFAULT_ENV)
        if cpu_bind is not None:
            default_env.update(CPU_DEFAULT_ENV)
    if publishes_kv_events(spec):
        named["kv_events"] = next(free)
        args = with_kv_events_endpoint(args, f"tcp://{LOOPBACK}:{named['kv_events']}")
    if cpu_bind is not None:
        env["VLLM_CPU_OMP_THREADS_BIND"] = cpu_bind
    if cpu_kv_cache_gib is not None:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kv_cache_gib)
    return LocalWorker(args, env, default_env, named)


@dataclass(frozen=True)
class CpuMode:
    """vLLM on a machine without GPU: each replica's cores and KV-cache size."""

    binds: dict[str, str]  # process name -> VLLM_CPU_OMP_THREADS_BIND
    kv_cache_gib: int
    notes: tuple[str, ...]


def cpu_mode(
    profile: Profile, specs: list[ComponentSpec], cores: tuple[int, ...] | None = None
) -> CpuMode:
    """How the vLLM replicas of ``specs`` run on ``cores`` (default: the ones trtl may use)."""
    usable = list(cores or sorted(_own_cores()))
    replicas = []
    for spec in specs:
        if is_vllm(spec):
            role = profile.workers[spec.role]
            ranks = role.tensor_parallel_size * role.pipeline_parallel_size
            replicas += [(f"{spec.role}-{i}", ranks) for i in range(spec.replicas)]
    binds, shared = cpu_binds(replicas, usable)
    gib = profile.vllm.cpu_kv_cache_gib
    notes = [
        f"no GPU: vLLM runs on CPU, {gib} GiB of KV cache per worker (vllm.cpu_kv_cache_gib); "
        "the --python must have a CPU build of vLLM (scripts/setup_vllm_cpu.sh makes one)."
    ]
    if shared:
        ranks = sum(count for _, count in replicas)
        notes.append(
            f"{ranks} vLLM engines share {len(usable)} CPU cores, so they slow each other "
            "down (a starved worker can miss the NIXL handshake or its discovery keep-alive); "
            "run fewer replicas on this machine if workers drop out."
        )
    return CpuMode(binds, gib, tuple(notes))


def cpu_reason(name: str, cpu: CpuMode | None) -> str | None:
    """What ``trtl plan`` shows as a CPU-mode replica's placement."""
    if cpu and name in cpu.binds:
        return f"no GPU: vLLM runs on CPU, cores {cpu.binds[name]}"
    return None


def _own_cores() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # macOS has no affinity: every core counts
        return set(range(os.cpu_count() or 1))


def cpu_binds(replicas: list[tuple[str, int]], cores: list[int]) -> tuple[dict[str, str], bool]:
    """Each replica's ``VLLM_CPU_OMP_THREADS_BIND``, and whether some cores are shared.

    ``replicas`` are (process name, engine ranks = tensor x pipeline parallel) in plan
    order. Each rank gets cores of its own when there are enough, spread evenly (the first
    ranks take the remainder); else ranks take the cores in turn and share them.
    """
    ordered = sorted(set(cores))
    ranks = sum(count for _, count in replicas)
    if not ordered or not ranks:
        return {}, False
    per_rank: list[list[int]] = []
    if ranks <= len(ordered):
        share, extra = divmod(len(ordered), ranks)
        start = 0
        for rank in range(ranks):
            size = share + (1 if rank < extra else 0)
            per_rank.append(ordered[start : start + size])
            start += size
    else:
        per_rank = [[ordered[rank % len(ordered)]] for rank in range(ranks)]
    binds: dict[str, str] = {}
    taken = iter(per_rank)
    for name, count in replicas:
        # vLLM reads one core list per engine rank, separated by "|".
        binds[name] = "|".join(_core_list(next(taken)) for _ in range(count))
    return binds, ranks > len(ordered)


def _core_list(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5", the form vLLM parses."""
    parts: list[str] = []
    start = prev = cores[0]
    for core in [*cores[1:], None]:
        if core is not None and core == prev + 1:
            prev = core
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if core is not None:
            start = prev = core
    return ",".join(parts)


def memory_utilization(spec: ComponentSpec) -> float:
    """The share of a GPU's memory a vLLM worker takes (its --gpu-memory-utilization)."""
    args = list(spec.args)
    if MEMORY_FLAG in args[:-1]:
        try:
            value = float(args[_last(args, MEMORY_FLAG) + 1])
        except ValueError:
            return DEFAULT_MEMORY_UTILIZATION
        if 0 < value <= 1:
            return value
    return DEFAULT_MEMORY_UTILIZATION


def with_memory_utilization(args: list[str], fraction: float) -> list[str]:
    """``args`` with the replica's own --gpu-memory-utilization (a shared GPU's split)."""
    out = list(args)
    if MEMORY_FLAG in out[:-1]:
        out[_last(out, MEMORY_FLAG) + 1] = str(fraction)
        return out
    return [*out, MEMORY_FLAG, str(fraction)]


def _last(args: list[str], flag: str) -> int:
    # argparse keeps the last value of a repeated flag (vllm.extra_args come last).
    return max(i for i, arg in enumerate(args[:-1]) if arg == flag)
