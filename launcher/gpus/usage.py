"""GPU memory used by supervised process trees, and the load of every GPU, for ``trtl status``.

``gpu_usage({"decode-0": 4242, ...})`` matches the PIDs NVML lists on each GPU against each
process's whole tree (the process and all its descendants: a TensorRT-LLM worker may run
its engine in child processes) and sums their GPU memory. It also reports each GPU's
utilisation and memory. It never raises: without NVML or a driver it returns empty
results and the inventory's reason.

NVML reports PIDs as the host sees them. Where trtl runs in its own PID namespace (some
containers) those PIDs may match none of its processes; the processes then show 0 MiB
while the per-GPU memory is still right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trtl.launcher.gpus.inventory import Inventory

Tree = Callable[[int], set[int]]  # root PID -> the PIDs of its whole tree (root included)


@dataclass(frozen=True)
class ProcessGpuMemory:
    """What one supervised process tree holds on the GPUs."""

    root_pid: int
    gpus: tuple[int, ...] = ()  # GPU indices where the tree holds memory (or is listed)
    memory_mib: int | None = 0  # over all GPUs; None where NVML lists it but hides the memory
    per_gpu_mib: dict[int, int | None] = field(default_factory=dict)
    pids: tuple[int, ...] = ()  # the PIDs of the tree that NVML lists on a GPU


@dataclass(frozen=True)
class GpuLoad:
    """One GPU's utilisation and memory, as ``nvidia-smi`` shows them."""

    index: int
    uuid: str
    name: str
    utilization_percent: int | None
    memory_used_mib: int
    memory_total_mib: int


@dataclass(frozen=True)
class GpuUsage:
    """Per process (every name asked for) and per GPU; empty with a reason without NVML."""

    processes: dict[str, ProcessGpuMemory]
    gpus: tuple[GpuLoad, ...]
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The form ``trtl status --json`` embeds."""
        return {
            "reason": self.reason,
            "processes": {
                name: {
                    "root_pid": usage.root_pid,
                    "gpus": list(usage.gpus),
                    "memory_mib": usage.memory_mib,
                    "per_gpu_mib": {str(k): v for k, v in usage.per_gpu_mib.items()},
                    "pids": list(usage.pids),
                }
                for name, usage in self.processes.items()
            },
            "gpus": [
                {
                    "index": gpu.index,
                    "uuid": gpu.uuid,
                    "name": gpu.name,
                    "utilization_percent": gpu.utilization_percent,
                    "memory_used_mib": gpu.memory_used_mib,
                    "memory_total_mib": gpu.memory_total_mib,
                }
                for gpu in self.gpus
            ],
        }


def gpu_usage(
    roots: Mapping[str, int],
    *,
    inventory: Inventory | None = None,
    tree: Tree | None = None,
) -> GpuUsage:
    """GPU memory per process tree in ``roots`` (name -> root PID) and the load of every GPU.

    ``inventory`` defaults to a fresh NVML read and ``tree`` to psutil; both are seams for
    tests. Raises nothing: without NVML the result is empty and ``reason`` says why.
    """
    if inventory is None:
        from trtl.launcher.gpus.inventory import read_inventory

        inventory = read_inventory()
    if not inventory.gpus:
        return GpuUsage({}, (), inventory.reason or "no GPU")
    tree = tree or process_tree
    # PID -> [(GPU index, MiB or None)] for every process NVML lists.
    listed: dict[int, list[tuple[int, int | None]]] = {}
    for gpu in inventory.gpus:
        for proc in gpu.processes:
            listed.setdefault(proc.pid, []).append((gpu.index, proc.memory_mib))
    processes = {name: _tree_usage(pid, tree(pid), listed) for name, pid in roots.items()}
    loads = tuple(
        GpuLoad(
            gpu.index,
            gpu.uuid,
            gpu.name,
            gpu.utilization_percent,
            gpu.memory_used_mib,
            gpu.memory_total_mib,
        )
        for gpu in inventory.gpus
    )
    return GpuUsage(processes, loads)


def _tree_usage(
    root: int, pids: set[int], listed: dict[int, list[tuple[int, int | None]]]
) -> ProcessGpuMemory:
    per_gpu: dict[int, int | None] = {}
    found = sorted(pid for pid in pids if pid in listed)
    for pid in found:
        for index, memory in listed[pid]:
            known = per_gpu.get(index)
            if memory is None:
                per_gpu.setdefault(index, None)
            else:
                per_gpu[index] = memory + (known or 0)
    values = [memory for memory in per_gpu.values() if memory is not None]
    total = sum(values) if values or not per_gpu else None
    return ProcessGpuMemory(
        root_pid=root,
        gpus=tuple(sorted(per_gpu)),
        memory_mib=total,
        per_gpu_mib=dict(sorted(per_gpu.items())),
        pids=tuple(found),
    )


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants now; empty when ``root`` is gone."""
    import psutil

    try:
        parent = psutil.Process(root)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    except psutil.AccessDenied:
        return {root}
    return {root, *(child.pid for child in children)}
