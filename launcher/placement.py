"""Which GPUs each replica of a graph gets.

Pure logic over an ``Inventory`` passed in as data, so every rule here is tested without
a GPU. Two steps:

1. ``select_gpus`` decides which GPUs trtl may use: ``--gpus`` if given, else the
   ``CUDA_VISIBLE_DEVICES`` trtl was started with, else all of them.
2. ``place`` gives each replica whole GPUs of its own, in the order of that selection.

Every user mistake is a ``PlacementError`` whose message names the bad input and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from launcher.gpus import Gpu, Inventory
from profiles.errors import PlacementError

_Fix = Callable[[Inventory], str]  # says how to correct a bad selection, given the GPUs
_Fail = Callable[[str], PlacementError]  # turns a problem phrase into the full error

ALL_GPUS = "all GPUs"

_TOO_FEW_HINT = (
    "Run it with --engine mocker to try the graph without GPUs, or choose other GPUs with --gpus"
)
# CUDA reads these as "no device"; "none" is accepted because people write it.
_NO_GPU_VALUES = ("", "-1", "none")
_SHORT_UUID = len("GPU-") + 8  # as many hex digits as tell GPUs apart in a message


@dataclass(frozen=True)
class Demand:
    """One replica and the whole GPUs it needs."""

    process: str  # e.g. "prefill-0", "decode-1"
    gpus: int  # whole GPUs this replica needs (>= 1)


@dataclass(frozen=True)
class Placement:
    """The GPUs of every replica, and the set they were taken from."""

    assignments: dict[str, tuple[Gpu, ...]]  # process name -> its GPUs (every demand present)
    available: tuple[Gpu, ...]  # the GPUs trtl was allowed to use, in order
    source: str  # where that set came from: "all GPUs", "--gpus 0,1", "CUDA_VISIBLE_DEVICES=1"


def select_gpus(
    inventory: Inventory, requested: str | None, inherited_cvd: str | None
) -> tuple[tuple[Gpu, ...], str]:
    """Return the GPUs trtl may use, in the order given, and where that choice came from.

    ``requested`` (``--gpus``) wins over ``inherited_cvd``. Raises ``PlacementError`` for an
    unknown index or UUID, an ambiguous UUID prefix, a GPU named twice, an empty entry or a
    MIG instance.
    """
    if requested is not None:
        tokens = [token.strip() for token in requested.split(",")]
        origin = "--gpus " + (",".join(tokens) or '""')
        return _resolve(inventory, tokens, origin, _gpus_fix), origin
    if inherited_cvd is not None:
        value = inherited_cvd.strip()
        if value.lower() in _NO_GPU_VALUES:
            # An empty value would read as a dangling "=" in messages, so it is quoted.
            return (), "CUDA_VISIBLE_DEVICES=" + (value or '""')
        tokens = [token.strip() for token in value.split(",")]
        origin = "CUDA_VISIBLE_DEVICES=" + ",".join(tokens)
        return _resolve(inventory, tokens, origin, _cvd_fix), origin
    return inventory.gpus, ALL_GPUS


def place(
    demands: list[Demand],
    available: tuple[Gpu, ...],
    *,
    profile: str,
    source: str,
    why_empty: str | None = None,
) -> Placement:
    """Give each replica its own contiguous run of ``available``, in demand order.

    ``why_empty`` is the inventory's reason, quoted when there is no GPU at all. Raises
    ``PlacementError`` when the replicas need more GPUs than ``available`` holds.
    """
    names = [demand.process for demand in demands]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")
    for demand in demands:
        if demand.gpus < 1:
            raise ValueError(f"{demand.process} asks for {demand.gpus} GPUs; the least is 1")

    needed = sum(demand.gpus for demand in demands)
    if needed > len(available):
        raise PlacementError(
            _too_few(demands, needed, len(available), profile, source, why_empty),
            hint=_too_few_hint(demands),
        )

    # Contiguous runs keep a tensor-parallel replica on neighbouring cards, which on
    # PCI-ordered workstations are the likeliest to share a switch or an NVLink bridge.
    assignments: dict[str, tuple[Gpu, ...]] = {}
    start = 0
    for demand in demands:
        assignments[demand.process] = available[start : start + demand.gpus]
        start += demand.gpus
    return Placement(assignments=assignments, available=available, source=source)


def cuda_visible_devices(gpus: tuple[Gpu, ...]) -> str:
    """Return the ``CUDA_VISIBLE_DEVICES`` value for a process that owns ``gpus``: "0,1"."""
    # These are NVML indices, which follow PCI bus order. CUDA numbers GPUs fastest-first
    # by default, so on a machine with mixed GPUs "0" could mean another card than
    # nvidia-smi's GPU 0; the caller sets CUDA_DEVICE_ORDER=PCI_BUS_ID so both agree.
    return ",".join(str(gpu.index) for gpu in gpus)


def _too_few(
    demands: list[Demand],
    needed: int,
    have: int,
    profile: str,
    source: str,
    why_empty: str | None,
) -> str:
    wants = ", ".join(f"{demand.process} needs {demand.gpus}" for demand in demands)
    if source != ALL_GPUS:
        selected = "none is" if have == 0 else f"only {have} {'is' if have == 1 else 'are'}"
        return f"{profile} needs {_plural(needed)}, but {selected} selected by {source}: {wants}."
    if have == 0:
        machine = f"no GPU ({why_empty})" if why_empty else "no GPU"
        return f"{profile} needs {_plural(needed)}, this machine has {machine}: {wants}."
    return f"{profile} needs {_plural(needed)}, this machine has {have}: {wants}."


def _too_few_hint(demands: list[Demand]) -> str:
    roles = [demand.process.rsplit("-", 1)[0] for demand in demands]
    # The role with the most replicas is the one whose count is worth lowering.
    role = max(roles, key=roles.count)
    if roles.count(role) > 1:
        return f"{_TOO_FEW_HINT}, or fewer replicas with --set workers.{role}.replicas=1."
    return f"{_TOO_FEW_HINT}."


def _plural(count: int) -> str:
    return f"{count} GPU" if count == 1 else f"{count} GPUs"


def _gpus_fix(inventory: Inventory) -> str:
    return f"choose from {_listing(inventory)}" if inventory.gpus else _no_gpu(inventory)


def _cvd_fix(inventory: Inventory) -> str:
    if not inventory.gpus:
        return _no_gpu(inventory)
    return f"unset it or pass --gpus, choosing from {_listing(inventory)}"


def _no_gpu(inventory: Inventory) -> str:
    reason = f" ({inventory.reason})" if inventory.reason else ""
    return f"this machine has no GPU{reason}"


def _listing(inventory: Inventory) -> str:
    """'GPU 0 (NVIDIA H200, GPU-8f3a2b1c) and GPU 1 (…)'; the short UUID works as --gpus."""
    items = [f"GPU {gpu.index} ({gpu.name}, {gpu.uuid[:_SHORT_UUID]})" for gpu in inventory.gpus]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _resolve(inventory: Inventory, tokens: list[str], origin: str, fix: _Fix) -> tuple[Gpu, ...]:
    """Turn index/UUID tokens into GPUs, keeping the user's order."""

    def fail(problem: str) -> PlacementError:
        return PlacementError(f"{origin} {problem}; {fix(inventory)}.")

    if tokens == [""]:
        raise fail("names no GPU")
    chosen: dict[int, str] = {}  # GPU index -> the token that named it, to report duplicates
    gpus: list[Gpu] = []
    for token in tokens:
        gpu = _match(inventory, token, fail)
        if gpu.index in chosen:
            raise fail(f"names GPU {gpu.index} twice ({chosen[gpu.index]} and {token})")
        chosen[gpu.index] = token
        gpus.append(gpu)
    return tuple(gpus)


def _match(inventory: Inventory, token: str, fail: _Fail) -> Gpu:
    if not token:
        raise fail("has an empty entry between commas")
    if token.upper().startswith("MIG-"):
        raise fail(f"names MIG instance {token}, but MIG instances are not supported yet")
    if token.isascii() and token.isdigit():  # isdigit alone passes "²", which int() rejects
        for gpu in inventory.gpus:
            if gpu.index == int(token):
                return gpu
        raise fail(f"names GPU {token}, which this machine does not have")
    if token.upper().startswith("GPU-"):
        # CUDA accepts any unique UUID prefix; NVML prints UUIDs in lower case.
        matches = [gpu for gpu in inventory.gpus if gpu.uuid.lower().startswith(token.lower())]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise fail(f"names {token}, which matches no GPU on this machine")
        which = " or ".join(f"GPU {gpu.index}" for gpu in matches)
        raise fail(f"names {token}, which could be {which}")
    raise fail(f'names "{token}", which is neither a GPU index nor a UUID')
