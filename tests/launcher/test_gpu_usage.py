"""Tests for ``launcher.gpus.usage``: GPU memory per supervised process tree, and GPU load.

CI has no GPU, so NVML is faked: most tests hand ``gpu_usage`` an ``Inventory`` built as
data (the seam it takes), and one installs a fake ``pynvml`` module to go through the real
``read_inventory``. Process trees are real where that costs nothing (psutil on this
machine's own processes). The proof with real CUDA processes on real GPUs is
``scripts/validate_gpus.py`` (docs/gpu-validation.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import ModuleType, SimpleNamespace

import pytest
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory
from trtl.launcher.gpus.usage import GpuLoad, ProcessGpuMemory, gpu_usage, process_tree

MIB = 1024 * 1024


def machine() -> Inventory:
    return Inventory(
        (
            Gpu(0, "GPU-aaaa", "NVIDIA H100", 81559, 30000, utilization_percent=12,
                processes=(GpuProcess(100, 20000, "python3"), GpuProcess(101, 2000, "python3"),
                           GpuProcess(300, 500, "other"))),
            Gpu(1, "GPU-bbbb", "NVIDIA H100", 81559, 9000, utilization_percent=0,
                processes=(GpuProcess(200, 8000, "python3"), GpuProcess(102, None, "python3"))),
        )
    )  # fmt: skip


TREES = {10: {10, 100, 101, 102}, 20: {20, 200}, 30: {30}}


def test_sums_memory_over_the_whole_tree_and_every_gpu() -> None:
    usage = gpu_usage({"prefill-0": 10, "decode-0": 20, "frontend": 30},
                      inventory=machine(), tree=TREES.__getitem__)  # fmt: skip

    assert usage.reason is None
    assert usage.processes["prefill-0"] == ProcessGpuMemory(
        root_pid=10,
        gpus=(0, 1),
        memory_mib=22000,  # 102's memory is hidden on GPU 1: it counts as unknown, not 0
        per_gpu_mib={0: 22000, 1: None},
        pids=(100, 101, 102),
    )
    assert usage.processes["decode-0"].memory_mib == 8000
    assert usage.processes["decode-0"].gpus == (1,)
    assert usage.processes["frontend"] == ProcessGpuMemory(root_pid=30)  # 0 MiB, no GPU
    assert usage.gpus == (
        GpuLoad(0, "GPU-aaaa", "NVIDIA H100", 12, 30000, 81559),
        GpuLoad(1, "GPU-bbbb", "NVIDIA H100", 0, 9000, 81559),
    )


def test_memory_hidden_everywhere_is_unknown() -> None:
    usage = gpu_usage({"decode-0": 10}, inventory=machine(), tree=lambda pid: {102})

    assert usage.processes["decode-0"].memory_mib is None
    assert usage.processes["decode-0"].gpus == (1,)


def test_a_gone_process_uses_nothing() -> None:
    usage = gpu_usage({"decode-0": 999}, inventory=machine(), tree=lambda pid: set())

    assert usage.processes["decode-0"] == ProcessGpuMemory(root_pid=999)


def test_without_nvml_the_result_is_empty_with_the_reason() -> None:
    no_driver = Inventory((), "no NVIDIA driver: libnvidia-ml.so.1 not found")

    usage = gpu_usage({"decode-0": 10}, inventory=no_driver)

    assert (usage.processes, usage.gpus) == ({}, ())
    assert usage.reason == "no NVIDIA driver: libnvidia-ml.so.1 not found"
    assert usage.to_json() == {"reason": usage.reason, "processes": {}, "gpus": []}


def test_missing_pynvml_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)

    usage = gpu_usage({"decode-0": os.getpid()})

    assert usage.processes == {}
    assert usage.reason is not None and usage.reason.startswith("nvidia-ml-py is not installed")


def test_through_a_fake_pynvml_and_the_real_process_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """One GPU lists this test's own PID: the real psutil tree of this process finds it."""

    class NVMLError(Exception):
        pass

    fake = ModuleType("pynvml")
    fake.NVMLError = NVMLError  # type: ignore[attr-defined]
    fake.nvmlInit = fake.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda h: "GPU-cccc"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: "NVIDIA H200"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(total=143771 * MIB, used=5000 * MIB)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=55, memory=3)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetComputeRunningProcesses = lambda h: [  # type: ignore[attr-defined]
        SimpleNamespace(pid=os.getpid(), usedGpuMemory=4096 * MIB)
    ]
    monkeypatch.setitem(sys.modules, "pynvml", fake)

    usage = gpu_usage({"me": os.getpid()})

    assert usage.processes["me"].memory_mib == 4096
    assert usage.gpus[0].utilization_percent == 55
    assert usage.to_json()["processes"]["me"]["per_gpu_mib"] == {"0": 4096}


def test_process_tree_holds_children_and_forgets_the_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert {os.getpid(), child.pid} <= process_tree(os.getpid())
    finally:
        child.kill()
        child.wait()
    time.sleep(0.05)
    assert process_tree(child.pid) == set()
