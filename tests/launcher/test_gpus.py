"""Tests for ``launcher.gpus.read_inventory``.

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
from types import ModuleType, SimpleNamespace

import pytest

from launcher.gpus import Gpu, Inventory, read_inventory

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
    """The CLI imports launcher.gpus on start; NVML must load only when GPUs are read."""
    code = "import sys, launcher.gpus; sys.exit('pynvml' in sys.modules)"
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
