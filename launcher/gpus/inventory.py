"""The GPUs of this machine, as NVML reports them.

``read_inventory()`` is the only place trtl talks to NVML. It never raises for a missing
library, a missing driver or an NVML error: it returns an empty ``Inventory`` whose
``reason`` says why in one line, so ``trtl up --engine mocker`` and ``trtl export`` work on
machines without GPUs, and placement can quote the reason when GPUs are needed.

Per GPU it reads: index, UUID, name, memory, compute capability, MIG mode, utilisation,
the GPUs it reaches over NVLink, and the processes using it with their memory. Only the
identity and memory are essential; a GPU that answers NOT_SUPPORTED (or any NVML error)
to one of the other questions simply reports it as unknown.

``pynvml`` is imported inside ``read_inventory()`` because commands that never touch a GPU
should not pay for loading it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

_MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuProcess:
    """A process NVML lists on a GPU (compute or graphics)."""

    pid: int  # as NVML reports it: the host's PID where trtl runs in another PID namespace
    memory_mib: int | None  # None where NVML cannot tell (e.g. no permission in a container)
    name: str | None = None  # executable name, when it can be read

    def describe(self) -> str:
        """'python3 (pid 4242, 40960 MiB)'."""
        memory = f", {self.memory_mib} MiB" if self.memory_mib is not None else ""
        return f"{self.name or 'a process'} (pid {self.pid}{memory})"


@dataclass(frozen=True)
class Gpu:
    """One physical GPU."""

    index: int  # NVML index (PCI bus order, as nvidia-smi shows)
    uuid: str  # "GPU-…"
    name: str
    memory_total_mib: int
    memory_used_mib: int
    compute_capability: tuple[int, int] | None = None
    mig_enabled: bool = False  # MIG mode on: CUDA sees MIG instances, not the whole GPU
    nvlink_peers: frozenset[int] = frozenset()  # indices of GPUs reached over NVLink
    processes: tuple[GpuProcess, ...] = ()
    utilization_percent: int | None = None

    @property
    def memory_free_mib(self) -> int:
        return max(self.memory_total_mib - self.memory_used_mib, 0)


@dataclass(frozen=True)
class Inventory:
    """The GPUs NVML could read, or none and the reason why."""

    gpus: tuple[Gpu, ...]
    reason: str | None = None  # why ``gpus`` is empty; None when GPUs were read
    driver_version: str | None = None  # "580.159.04"
    cuda_driver_version: str | None = None  # the CUDA version the driver supports: "13.0"


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
    driver = _optional(pynvml, "nvmlSystemGetDriverVersion")
    cuda = _optional(pynvml, "nvmlSystemGetCudaDriverVersion")
    versions = {
        "driver_version": _text(driver) if driver is not None else None,
        # NVML encodes CUDA 13.0 as 13000.
        "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
    }
    try:
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as exc:
        return Inventory((), f"NVML could not count the GPUs: {exc}", **versions)
    if count == 0:
        return Inventory((), "the NVIDIA driver reports no GPU", **versions)

    gpus = []
    handles = []
    for index in range(count):
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(_read_gpu(pynvml, index, handle))
        except pynvml.NVMLError as exc:
            # Skipping a GPU would hand its work to the wrong card or hide a fault
            # (e.g. "GPU is lost"), so one unreadable GPU empties the inventory.
            return Inventory((), f"NVML could not read GPU {index}: {exc}", **versions)
        handles.append(handle)
    peers = _nvlink_peers(pynvml, handles)
    gpus = [replace(gpu, nvlink_peers=frozenset(peers[gpu.index])) for gpu in gpus]
    return Inventory(tuple(gpus), **versions)


def _read_gpu(pynvml: ModuleType, index: int, handle: object) -> Gpu:
    total_mib, used_mib = _memory_mib(pynvml, handle)
    capability = _optional(pynvml, "nvmlDeviceGetCudaComputeCapability", handle)
    mig = _optional(pynvml, "nvmlDeviceGetMigMode", handle)
    utilization = _optional(pynvml, "nvmlDeviceGetUtilizationRates", handle)
    return Gpu(
        index=index,
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        memory_total_mib=total_mib,
        memory_used_mib=used_mib,
        compute_capability=(int(capability[0]), int(capability[1])) if capability else None,
        # (current, pending); 1 is NVML_DEVICE_MIG_ENABLE.
        mig_enabled=bool(mig) and int(mig[0]) == 1,
        processes=_processes(pynvml, handle),
        utilization_percent=int(utilization.gpu) if utilization is not None else None,
    )


def _processes(pynvml: ModuleType, handle: object) -> tuple[GpuProcess, ...]:
    """Compute and graphics processes on one GPU, each PID once, in PID order."""
    found: dict[int, int | None] = {}
    for query in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        for info in _optional(pynvml, query, handle) or ():
            used = getattr(info, "usedGpuMemory", None)
            # NVML reports NVML_VALUE_NOT_AVAILABLE (2**64 - 1) where it may not tell.
            memory = int(used) // _MIB if used is not None and used < 2**63 else None
            pid = int(info.pid)
            if found.get(pid) is None:
                found[pid] = memory
    return tuple(
        GpuProcess(pid, memory, _process_name(pynvml, pid)) for pid, memory in sorted(found.items())
    )


def _process_name(pynvml: ModuleType, pid: int) -> str | None:
    name = _optional(pynvml, "nvmlSystemGetProcessName", pid)
    if not name:
        return None
    # NVML gives the executable's path; its last part is what people recognise.
    return _text(name).rsplit("/", 1)[-1] or None


def _nvlink_peers(pynvml: ModuleType, handles: list[object]) -> dict[int, set[int]]:
    """GPU index -> indices it can reach peer-to-peer over NVLink (direct or NVSwitch)."""
    peers: dict[int, set[int]] = {index: set() for index in range(len(handles))}
    caps = getattr(pynvml, "NVML_P2P_CAPS_INDEX_NVLINK", None)
    ok = getattr(pynvml, "NVML_P2P_STATUS_OK", 0)
    if caps is None:
        return peers
    for a in range(len(handles)):
        for b in range(a + 1, len(handles)):
            status = _optional(pynvml, "nvmlDeviceGetP2PStatus", handles[a], handles[b], caps)
            if status == ok:
                peers[a].add(b)
                peers[b].add(a)
    return peers


def _optional(pynvml: ModuleType, function: str, *args: Any) -> Any:
    """Call an NVML query that may be missing or unsupported; None when it can't answer."""
    query = getattr(pynvml, function, None)
    if query is None:
        return None
    try:
        return query(*args)
    except pynvml.NVMLError:
        return None


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
