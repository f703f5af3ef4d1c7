"""The GPUs of this machine, as NVML reports them.

``read_inventory()`` is the only place trtl talks to NVML. It never raises for a missing
library, a missing driver or an NVML error: it returns an empty ``Inventory`` whose
``reason`` says why in one line, so ``trtl up --engine mocker`` and ``trtl export`` work on
machines without GPUs, and placement can quote the reason when GPUs are needed.

``pynvml`` is imported inside ``read_inventory()`` because commands that never touch a GPU
should not pay for loading it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import ModuleType

_MIB = 1024 * 1024


@dataclass(frozen=True)
class Gpu:
    """One physical GPU."""

    index: int  # NVML index (PCI bus order, as nvidia-smi shows)
    uuid: str  # "GPU-…"
    name: str
    memory_total_mib: int
    memory_used_mib: int


@dataclass(frozen=True)
class Inventory:
    """The GPUs NVML could read, or none and the reason why."""

    gpus: tuple[Gpu, ...]
    reason: str | None = None  # why ``gpus`` is empty; None when GPUs were read


def read_inventory() -> Inventory:
    """Read every GPU through NVML; return an empty inventory with a reason when it can't.

    Raises nothing for a missing ``pynvml``, a missing driver or any ``NVMLError``.
    """
    try:
        import pynvml
    except ImportError as exc:
        return Inventory((), f"nvidia-ml-py is not installed ({exc})")

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Inventory((), _init_failure(pynvml, exc))

    try:
        return _read_gpus(pynvml)
    finally:
        # NVML counts inits; a missed shutdown keeps its handles open for the life of
        # trtl, which supervises processes for hours.
        # The inventory is already read; a failed shutdown changes nothing in it.
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _read_gpus(pynvml: ModuleType) -> Inventory:
    """Read all GPUs after a successful ``nvmlInit``; the caller shuts NVML down."""
    try:
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as exc:
        return Inventory((), f"NVML could not count the GPUs: {exc}")
    if count == 0:
        return Inventory((), "the NVIDIA driver reports no GPU")

    gpus = []
    for index in range(count):
        try:
            gpus.append(_read_gpu(pynvml, index))
        except pynvml.NVMLError as exc:
            # Skipping a GPU would hand its work to the wrong card or hide a fault
            # (e.g. "GPU is lost"), so one unreadable GPU empties the inventory.
            return Inventory((), f"NVML could not read GPU {index}: {exc}")
    return Inventory(tuple(gpus))


def _read_gpu(pynvml: ModuleType, index: int) -> Gpu:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    total_mib, used_mib = _memory_mib(pynvml, handle)
    return Gpu(
        index=index,
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        memory_total_mib=total_mib,
        memory_used_mib=used_mib,
    )


def _memory_mib(pynvml: ModuleType, handle: object) -> tuple[int, int]:
    """Return (total, used) MiB; (0, 0) where the GPU has no memory of its own to report."""
    not_supported = getattr(pynvml, "NVMLError_NotSupported", ())
    try:
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    except not_supported:
        # GPUs sharing system memory (e.g. GB10) answer NOT_SUPPORTED, as nvidia-smi's
        # "Not Supported" column shows; the GPU itself is still usable.
        return 0, 0
    return int(memory.total) // _MIB, int(memory.used) // _MIB


def _text(value: str | bytes) -> str:
    # nvidia-ml-py before 11.515 returned bytes; later versions return str.
    return value.decode() if isinstance(value, bytes) else value


def _init_failure(pynvml: ModuleType, exc: Exception) -> str:
    """Say in one line why ``nvmlInit`` failed, naming the usual causes plainly."""
    # Looked up by name: the classes exist only in real pynvml, and isinstance(x, ())
    # is simply False where they are missing.
    if isinstance(exc, getattr(pynvml, "NVMLError_LibraryNotFound", ())):
        return "no NVIDIA driver: libnvidia-ml.so.1 not found"
    if isinstance(exc, getattr(pynvml, "NVMLError_DriverNotLoaded", ())):
        return f"the NVIDIA driver is not loaded ({exc})"
    if isinstance(exc, getattr(pynvml, "NVMLError_NoPermission", ())):
        return f"no permission to read the GPUs ({exc})"
    return f"NVML could not start: {exc}"
