"""Engines that run on CPU cores where the machine has no GPU ("CPU mode").

Each replica of such an engine gets CPU cores of its own, so that engines don't starve each
other, and a KV-cache size; the engine module turns both into its own settings
(``Engine.local_worker``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from trtl.profiles.engines import ComponentSpec, engine, engine_of, settings_block
from trtl.profiles.schema import Profile


@dataclass(frozen=True)
class CpuMode:
    """Each CPU replica's cores and its KV-cache size."""

    binds: dict[str, str]  # process name -> core list (one per engine rank, "|"-separated)
    kv_cache_gib: int
    title: str  # the engine, in words
    notes: tuple[str, ...]


def runs_on_cpu(spec: ComponentSpec) -> bool:
    eng = engine_of(spec)
    return bool(eng and eng.cpu_without_gpu)


def cpu_mode(
    profile: Profile, specs: list[ComponentSpec], cores: tuple[int, ...] | None = None
) -> CpuMode:
    """How the CPU replicas of ``specs`` run on ``cores`` (default: the ones trtl may use)."""
    usable = sorted(cores or _own_cores())
    on_cpu = [spec for spec in specs if runs_on_cpu(spec)]
    eng = engine(profile.engine)
    title = eng.title
    split = any(spec.mode in ("prefill", "decode") for spec in on_cpu)
    busy_polls = split and eng.cpu_disagg_busy_polls
    # Engines that busy-poll on every core leave nothing to the rest: beside a vLLM pair on
    # 2 cores a 0.5 s CPU loop took 146 s and `trtl status` minutes (docs/vllm-cpu.md).
    spare = usable[0] if busy_polls and len(usable) > 1 else None
    engine_cores = [core for core in usable if core != spare]
    replicas = []
    for spec in on_cpu:
        role = profile.workers[spec.role]
        ranks = role.tensor_parallel_size * role.pipeline_parallel_size
        replicas += [(f"{spec.role}-{i}", ranks) for i in range(spec.replicas)]
    binds, shared = cpu_binds(replicas, engine_cores)
    # The setting lives in the engine's own settings block (e.g. vllm.cpu_kv_cache_gib).
    gib = getattr(settings_block(profile), "cpu_kv_cache_gib", 1)
    notes = [
        f"no GPU: {title} runs on CPU, {gib} GiB of KV cache per worker "
        f"({profile.engine}.cpu_kv_cache_gib); the --python must have a CPU build of {title} "
        f"({eng.install_hint(cpu_only=True)})"
    ]
    if busy_polls:
        notes.append(_busy_poll_note(title, spare, engine_cores))
    if shared:
        ranks = sum(count for _, count in replicas)
        cores_said = f"{len(engine_cores)} CPU core" + ("s" if len(engine_cores) > 1 else "")
        notes.append(
            f"{ranks} {title} engines share {cores_said}, so they slow each other "
            "down (a starved worker can miss the NIXL handshake or its discovery keep-alive); "
            "run fewer replicas on this machine if workers drop out."
        )
    return CpuMode(binds, gib, title, tuple(notes))


def _busy_poll_note(title: str, spare: int | None, engine_cores: list[int]) -> str:
    said = (
        f"{title} prefill/decode workers on CPU busy-poll about a core each for as long as "
        "they run, idle or not"
    )
    if spare is None:
        return (
            f"{said}: on one core everything else, `trtl status` included, slows to a crawl; "
            "run disaggregated here only to see it work."
        )
    return (
        f"{said}: core {spare} is kept out of their binds for the frontend, trtl and your "
        f"shell, the engines run on core{'s' if len(engine_cores) > 1 else ''} "
        f"{_core_list(engine_cores)}."
    )


def cpu_reason(name: str, cpu: CpuMode | None) -> str | None:
    """What ``trtl plan`` shows as a CPU-mode replica's placement."""
    if cpu and name in cpu.binds:
        return f"no GPU: {cpu.title} runs on CPU, cores {cpu.binds[name]}"
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
