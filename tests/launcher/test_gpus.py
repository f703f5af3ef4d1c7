"""Tests for ``launcher.gpus.inventory.read_inventory``.

The no-driver path is tested for real: CI machines have no NVIDIA driver, so
``read_inventory()`` there loads the real ``pynvml`` and meets the missing library.
The path where NVML works needs a GPU driver this CI machine lacks, so it runs against a
small fake ``pynvml`` module; the proof on real GPUs is a separate issue.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from trtl.launcher.gpus.inventory import Gpu, GpuProcess, Inventory, read_inventory

MIB = 1024 * 1024


def _has_nvidia_driver() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(_has_nvidia_driver(), reason="this machine has an NVIDIA driver")
def test_no_driver_gives_empty_inventory_with_reason() -> None:
    inventory = read_inventory()  # the real pynvml, the real missing library

    assert inventory == Inventory((), "no NVIDIA driver: libnvidia-ml.so.1 not found")


def test_importing_the_module_does_not_load_pynvml() -> None:
    """The CLI imports launcher.gpus.inventory on start; NVML must load only when GPUs are read."""
    code = "import sys, launcher.gpus.inventory; sys.exit('pynvml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


class FakeNVMLError(Exception):
    """Stands in for ``pynvml.NVMLError``."""


class FakeNotSupported(FakeNVMLError):
    """Stands in for ``pynvml.NVMLError_NotSupported``."""


@dataclass
class FakeDevice:
    uuid: str | bytes
    name: str | bytes
    total: int  # bytes, as NVML reports them
    used: int
    broken: Exception | None = None  # raised by every query on this device


@dataclass
class FakeNvml:
    """The state behind a fake ``pynvml`` module; records what trtl called."""

    devices: list[FakeDevice]
    init_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    def module(self) -> ModuleType:
        fake = ModuleType("pynvml")
        fake.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
        fake.NVMLError_NotSupported = FakeNotSupported  # type: ignore[attr-defined]
        fake.nvmlInit = self.init  # type: ignore[attr-defined]
        fake.nvmlShutdown = lambda: self.calls.append("shutdown")  # type: ignore[attr-defined]
        fake.nvmlDeviceGetCount = lambda: len(self.devices)  # type: ignore[attr-defined]
        fake.nvmlDeviceGetHandleByIndex = self.devices.__getitem__  # type: ignore[attr-defined]
        fake.nvmlDeviceGetUUID = lambda d: self.query(d).uuid  # type: ignore[attr-defined]
        fake.nvmlDeviceGetName = lambda d: self.query(d).name  # type: ignore[attr-defined]
        fake.nvmlDeviceGetMemoryInfo = self.memory  # type: ignore[attr-defined]
        return fake

    def init(self) -> None:
        self.calls.append("init")
        if self.init_error:
            raise self.init_error

    def query(self, device: FakeDevice) -> FakeDevice:
        if device.broken:
            raise device.broken
        return device

    def memory(self, device: FakeDevice) -> SimpleNamespace:
        self.query(device)
        return SimpleNamespace(total=device.total, used=device.used, free=device.total)


def two_h200s() -> list[FakeDevice]:
    return [
        FakeDevice("GPU-0a1b2c3d-0000-4000-8000-000000000000", "NVIDIA H200", 143771 * MIB, 0),
        # Old nvidia-ml-py returned bytes; the second GPU checks they are decoded.
        FakeDevice(
            b"GPU-9f8e7d6c-1111-4111-8111-111111111111", b"NVIDIA H200", 143771 * MIB, 512 * MIB + 7
        ),
    ]


def install(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())


def test_reads_every_gpu_and_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(two_h200s())
    install(monkeypatch, nvml)

    inventory = read_inventory()

    assert inventory == Inventory(
        (
            Gpu(0, "GPU-0a1b2c3d-0000-4000-8000-000000000000", "NVIDIA H200", 143771, 0),
            Gpu(1, "GPU-9f8e7d6c-1111-4111-8111-111111111111", "NVIDIA H200", 143771, 512),
        )
    )
    assert inventory.reason is None
    assert nvml.calls == ["init", "shutdown"]


def test_init_failure_gives_empty_inventory_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(two_h200s(), init_error=FakeNVMLError("Driver Not Loaded"))
    install(monkeypatch, nvml)

    inventory = read_inventory()

    assert inventory == Inventory((), "NVML could not start: Driver Not Loaded")
    assert nvml.calls == ["init"]  # NVML never started, so there is nothing to shut down


def test_gpu_failing_after_init_still_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = two_h200s()
    devices[1].broken = FakeNVMLError("GPU is lost")
    nvml = FakeNvml(devices)
    install(monkeypatch, nvml)

    inventory = read_inventory()

    assert inventory == Inventory((), "NVML could not read GPU 1: GPU is lost")
    assert nvml.calls == ["init", "shutdown"]


def test_no_gpu_reported_gives_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml([])
    install(monkeypatch, nvml)

    assert read_inventory() == Inventory((), "the NVIDIA driver reports no GPU")
    assert nvml.calls == ["init", "shutdown"]


def test_memory_not_supported_reads_as_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPUs on system memory (e.g. GB10) answer NOT_SUPPORTED for memory but still work."""
    nvml = FakeNvml([FakeDevice("GPU-5a5a5a5a-0000", "NVIDIA GB10", 0, 0)])
    fake = nvml.module()

    def not_supported(device: FakeDevice) -> SimpleNamespace:
        raise FakeNotSupported("Not Supported")

    fake.nvmlDeviceGetMemoryInfo = not_supported  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)

    assert read_inventory() == Inventory((Gpu(0, "GPU-5a5a5a5a-0000", "NVIDIA GB10", 0, 0),))


def test_missing_pynvml_gives_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail

    inventory = read_inventory()

    assert inventory.gpus == ()
    assert inventory.reason is not None
    assert inventory.reason.startswith("nvidia-ml-py is not installed")


# --- the richer NVML answers: versions, capability, MIG, NVLink, processes ---------------


def rich_nvml(monkeypatch: pytest.MonkeyPatch, *, nvlink: bool = True) -> FakeNvml:
    """Two H100s joined by NVLink; GPU 1 has MIG on and two processes on it."""
    nvml = FakeNvml(two_h200s())
    fake = nvml.module()
    devices = nvml.devices
    fake.NVML_P2P_CAPS_INDEX_NVLINK = 4  # type: ignore[attr-defined]
    fake.NVML_P2P_STATUS_OK = 0  # type: ignore[attr-defined]
    fake.nvmlSystemGetDriverVersion = lambda: "580.159.04"  # type: ignore[attr-defined]
    fake.nvmlSystemGetCudaDriverVersion = lambda: 13000  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCudaComputeCapability = lambda d: (9, 0)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMigMode = lambda d: [int(d is devices[1]), 0]  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUtilizationRates = lambda d: SimpleNamespace(gpu=37, memory=5)  # type: ignore[attr-defined]

    def p2p(a: FakeDevice, b: FakeDevice, caps: int) -> int:
        assert caps == 4
        return 0 if nvlink else 2  # 2: NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED

    def compute(device: FakeDevice) -> list[SimpleNamespace]:
        if device is devices[0]:
            return []
        # 2**64 - 1 is NVML_VALUE_NOT_AVAILABLE: memory hidden, e.g. in a container.
        return [
            SimpleNamespace(pid=4242, usedGpuMemory=1024 * MIB),
            SimpleNamespace(pid=77, usedGpuMemory=2**64 - 1),
        ]

    def graphics(device: FakeDevice) -> list[SimpleNamespace]:
        raise FakeNotSupported("Not Supported")

    def process_name(pid: int) -> str:
        if pid == 77:
            raise FakeNVMLError("Not Found")
        return "/usr/bin/python3"

    fake.nvmlDeviceGetP2PStatus = p2p  # type: ignore[attr-defined]
    fake.nvmlDeviceGetComputeRunningProcesses = compute  # type: ignore[attr-defined]
    fake.nvmlDeviceGetGraphicsRunningProcesses = graphics  # type: ignore[attr-defined]
    fake.nvmlSystemGetProcessName = process_name  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return nvml


def test_reads_versions_capability_mig_nvlink_and_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rich_nvml(monkeypatch)

    inventory = read_inventory()

    assert (inventory.driver_version, inventory.cuda_driver_version) == ("580.159.04", "13.0")
    first, second = inventory.gpus
    assert first.compute_capability == (9, 0)
    assert (first.mig_enabled, second.mig_enabled) == (False, True)
    assert (first.nvlink_peers, second.nvlink_peers) == (frozenset({1}), frozenset({0}))
    assert first.processes == ()
    assert second.processes == (GpuProcess(77, None, None), GpuProcess(4242, 1024, "python3"))
    assert second.utilization_percent == 37
    assert second.memory_free_mib == 143771 - 512


def test_no_nvlink_means_no_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    rich_nvml(monkeypatch, nvlink=False)

    assert all(gpu.nvlink_peers == frozenset() for gpu in read_inventory().gpus)


def test_unanswered_optional_questions_leave_the_gpu_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Queries an old driver lacks or refuses read as unknown; the GPU stays in the inventory."""
    nvml = FakeNvml(two_h200s())
    fake = nvml.module()

    def refuse(*args: object) -> None:
        raise FakeNotSupported("Not Supported")

    for query in (
        "nvmlSystemGetDriverVersion",
        "nvmlDeviceGetCudaComputeCapability",
        "nvmlDeviceGetMigMode",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetP2PStatus",
    ):
        setattr(fake, query, refuse)
    fake.NVML_P2P_CAPS_INDEX_NVLINK = 4  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)

    inventory = read_inventory()

    assert [gpu.index for gpu in inventory.gpus] == [0, 1]
    assert inventory.driver_version is None
    gpu = inventory.gpus[0]
    assert (gpu.compute_capability, gpu.mig_enabled, gpu.processes) == (None, False, ())
    assert gpu.utilization_percent is None


def test_describe_names_the_process() -> None:
    assert GpuProcess(4242, 1024, "python3").describe() == "python3 (pid 4242, 1024 MiB)"
    assert GpuProcess(77, None).describe() == "a process (pid 77)"


@pytest.mark.skipif(_has_nvidia_driver(), reason="this machine has an NVIDIA driver")
def test_validation_script_says_why_it_cannot_run_without_gpus(tmp_path) -> None:
    """scripts/validate_gpus.py is the proof on real GPUs; here it must stop cleanly."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "validate_gpus.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "no GPU: no NVIDIA driver: libnvidia-ml.so.1 not found" in done.stdout
    assert "Traceback" not in done.stderr
