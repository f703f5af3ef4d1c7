"""NVML samples of a graph's GPUs while a level runs: utilisation and memory.

A background thread reads the inventory (``launcher.gpus.inventory``) twice a second and
keeps the GPUs the graph was placed on. Without NVML or GPUs it records nothing and the
level's GPU columns stay empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

INTERVAL_S = 0.5

# One reading: (GPU index, utilisation % or None, memory used MiB) per GPU.
Reading = list[tuple[int, "int | None", int]]


def read_gpus() -> Reading:
    """Every GPU's utilisation and memory now; empty without NVML. Raises nothing."""
    from trtl.launcher.gpus.inventory import read_inventory

    inventory = read_inventory()
    return [(g.index, g.utilization_percent, g.memory_used_mib) for g in inventory.gpus]


@dataclass
class GpuSampler:
    """Samples ``gpus`` from start() to stop(); ``summary()`` gives mean/max figures."""

    gpus: Iterable[int]
    read: Callable[[], Reading] = read_gpus
    interval: float = INTERVAL_S
    utilisation: list[int] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)  # summed over the graph's GPUs

    def __post_init__(self) -> None:
        self.gpus = set(self.gpus)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GpuSampler:
        if self.gpus:
            self._thread = threading.Thread(target=self._run, name="gpu-samples", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def sample(self) -> None:
        """Take one reading of the graph's GPUs."""
        mine = [r for r in self.read() if r[0] in self.gpus]
        self.utilisation += [util for _, util, _ in mine if util is not None]
        if mine:
            self.memory.append(sum(mem for _, _, mem in mine))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def summary(self) -> dict[str, float | int | None]:
        """Mean and max utilisation (% over the graph's GPUs) and peak memory (MiB)."""
        util = self.utilisation
        return {
            "gpu_util_mean": round(sum(util) / len(util), 1) if util else None,
            "gpu_util_max": float(max(util)) if util else None,
            "gpu_mem_max_mib": max(self.memory) if self.memory else None,
        }
