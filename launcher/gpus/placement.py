"""Which GPUs each replica of a graph gets.

Pure logic over an ``Inventory`` passed in as data, so every rule here is tested without
a GPU. Two steps:

1. ``select_gpus`` decides which GPUs trtl may use: ``--gpus`` if given, else the
   ``CUDA_VISIBLE_DEVICES`` trtl was started with, else all of them.
2. ``place`` drops the GPUs of that selection that cannot take a worker (MIG mode on, or
   busy: other processes use more memory than the engine config leaves free), then gives
   each replica whole GPUs of its own. Replicas of several GPUs go first, each on a set of
   GPUs joined by NVLink where one is left; one-GPU replicas then take the rest in order.
   With ``share=True`` and too few GPUs, replicas are packed onto the GPUs there are and
   the KV-cache memory fraction of every replica on a shared GPU is divided by the number
   of replicas there, so they fit side by side (development only).

Every user mistake is a ``PlacementError`` whose message names the bad input and the fix.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.profiles.errors import PlacementError

_Fix = Callable[[Inventory], str]  # says how to correct a bad selection, given the GPUs
_Fail = Callable[[str], PlacementError]  # turns a problem phrase into the full error

ALL_GPUS = "all GPUs"
# TensorRT-LLM's kv_cache_config.free_gpu_memory_fraction when an engine config sets none.
DEFAULT_MEMORY_FRACTION = 0.9
SHARE_WARNING = (
    "--share-gpus: several workers share a GPU, for development only; "
    "timings are not representative of the cluster, which keeps whole GPUs."
)

_SHARE = "run it with --share-gpus to pack the workers onto fewer GPUs (development only)"
_MOCKER = "with --engine mocker to try the graph without GPUs"
_OTHER = "choose other GPUs with --gpus"
# CUDA reads these as "no device"; "none" is accepted because people write it.
_NO_GPU_VALUES = ("", "-1", "none")
_SHORT_UUID = len("GPU-") + 8  # as many hex digits as tell GPUs apart in a message


@dataclass(frozen=True)
class Demand:
    """One replica and the whole GPUs it needs."""

    process: str  # e.g. "prefill-0", "decode-1"
    gpus: int  # whole GPUs this replica needs (>= 1)
    # The share of each GPU's memory its engine takes (kv_cache_config.free_gpu_memory_fraction);
    # the rest is what other processes may already use before the GPU counts as busy.
    memory_fraction: float = DEFAULT_MEMORY_FRACTION


@dataclass(frozen=True)
class Placement:
    """The GPUs of every replica, the set they were taken from, and why."""

    assignments: dict[str, tuple[Gpu, ...]]  # process name -> its GPUs (every demand present)
    available: tuple[Gpu, ...]  # the GPUs trtl was allowed to use, in order
    source: str  # where that set came from: "all GPUs", "--gpus 0,1", "CUDA_VISIBLE_DEVICES=1"
    skipped: dict[int, str] = field(default_factory=dict)  # GPU index -> why it was left out
    reasons: dict[str, str] = field(default_factory=dict)  # process -> why these GPUs
    # process -> its memory fraction after sharing; only replicas on a shared GPU appear.
    fractions: dict[str, float] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """True when some GPU runs more than one replica (``--share-gpus`` packed them)."""
        return bool(self.fractions)


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
    share: bool = False,
) -> Placement:
    """Give each replica whole GPUs of ``available``; pack them onto fewer when ``share``.

    ``why_empty`` is the inventory's reason, quoted when there is no GPU at all. Raises
    ``PlacementError`` when the replicas need more usable GPUs than ``available`` holds
    (naming the busy or MIG GPUs that were left out, and the process using a busy one).
    """
    names = [demand.process for demand in demands]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")
    for demand in demands:
        if demand.gpus < 1:
            raise ValueError(f"{demand.process} asks for {demand.gpus} GPUs; the least is 1")

    fraction = max((demand.memory_fraction for demand in demands), default=1.0)
    skipped = {gpu.index: why for gpu in available if (why := unusable(gpu, fraction))}
    usable = tuple(gpu for gpu in available if gpu.index not in skipped)
    common = {"available": available, "source": source, "skipped": skipped}

    if sum(demand.gpus for demand in demands) <= len(usable):
        assignments, reasons = _whole(demands, usable)
        return Placement(assignments, reasons=reasons, **common)
    if share and usable and max(demand.gpus for demand in demands) <= len(usable):
        assignments, reasons, fractions = _packed(demands, usable)
        return Placement(assignments, reasons=reasons, fractions=fractions, **common)
    raise PlacementError(
        _too_few(demands, available, skipped, profile, source, why_empty, share),
        hint=_too_few_hint(demands, usable, skipped, share),
    )


def unusable(gpu: Gpu, memory_fraction: float) -> str | None:
    """Why ``gpu`` cannot take a worker whose engine takes ``memory_fraction``; None if it can."""
    if gpu.mig_enabled:
        return (
            f"GPU {gpu.index} has MIG mode on, and trtl places whole GPUs only "
            f"(turn it off with: sudo nvidia-smi -i {gpu.index} -mig 0)"
        )
    if not gpu.memory_total_mib:  # memory shared with the system (e.g. GB10): nothing to judge
        return None
    allowance = math.floor(gpu.memory_total_mib * (1 - memory_fraction))
    if gpu.memory_used_mib <= allowance:
        return None
    users = ", ".join(process.describe() for process in gpu.processes)
    who = f"{users} use" if len(gpu.processes) > 1 else f"{users} uses"
    if not gpu.processes:
        who = "processes NVML does not list use"
    return (
        f"GPU {gpu.index} is busy: {who} {gpu.memory_used_mib} of its "
        f"{gpu.memory_total_mib} MiB, more than the {allowance} MiB "
        f"({_percent(1 - memory_fraction)}) that free_gpu_memory_fraction "
        f"{memory_fraction:g} leaves free"
    )


def cuda_visible_devices(gpus: tuple[Gpu, ...]) -> str:
    """Return the ``CUDA_VISIBLE_DEVICES`` value for a process that owns ``gpus``: "0,1"."""
    # These are NVML indices, which follow PCI bus order. CUDA numbers GPUs fastest-first
    # by default, so on a machine with mixed GPUs "0" could mean another card than
    # nvidia-smi's GPU 0; the caller sets CUDA_DEVICE_ORDER=PCI_BUS_ID so both agree.
    return ",".join(str(gpu.index) for gpu in gpus)


def _whole(
    demands: list[Demand], usable: tuple[Gpu, ...]
) -> tuple[dict[str, tuple[Gpu, ...]], dict[str, str]]:
    """Whole GPUs per replica: multi-GPU replicas first, on NVLink sets where possible."""
    free = list(usable)
    chosen: dict[str, tuple[Gpu, ...]] = {}
    reasons: dict[str, str] = {}
    # The largest replicas pick first, so one-GPU replicas cannot split an NVLink island
    # that a tensor-parallel replica needs; sorted() is stable, so ties keep profile order.
    for demand in sorted((d for d in demands if d.gpus > 1), key=lambda d: -d.gpus):
        linked = _nvlink_set(free, demand.gpus)
        gpus = linked or tuple(free[: demand.gpus])
        listed = _indices(gpus)
        reasons[demand.process] = (
            f"GPUs {listed} are joined by NVLink"
            if linked
            else f"no {demand.gpus} GPUs joined by NVLink are left; GPUs {listed} talk over PCIe"
        )
        chosen[demand.process] = gpus
        free = [gpu for gpu in free if gpu not in gpus]
    for demand in demands:
        if demand.gpus == 1:
            chosen[demand.process] = (free.pop(0),)
            reasons[demand.process] = "a GPU of its own"
    return {d.process: chosen[d.process] for d in demands}, reasons


def _nvlink_set(free: list[Gpu], size: int) -> tuple[Gpu, ...] | None:
    """The first ``size`` GPUs of ``free`` (in its order) that all reach each other over NVLink."""
    for group in itertools.combinations(free, size):
        if all(b.index in a.nvlink_peers for a, b in itertools.combinations(group, 2)):
            return group
    return None


def _packed(
    demands: list[Demand], usable: tuple[Gpu, ...]
) -> tuple[dict[str, tuple[Gpu, ...]], dict[str, str], dict[str, float]]:
    """Replicas spread over ``usable`` by load; shared GPUs split the memory fraction."""
    load = dict.fromkeys((gpu.index for gpu in usable), 0)
    order = {gpu.index: position for position, gpu in enumerate(usable)}
    chosen: dict[str, tuple[Gpu, ...]] = {}
    for demand in demands:
        least = sorted(usable, key=lambda gpu: (load[gpu.index], order[gpu.index]))
        chosen[demand.process] = tuple(sorted(least[: demand.gpus], key=lambda g: order[g.index]))
        for gpu in chosen[demand.process]:
            load[gpu.index] += 1
    reasons: dict[str, str] = {}
    fractions: dict[str, float] = {}
    for demand in demands:
        gpus = chosen[demand.process]
        sharing = max(load[gpu.index] for gpu in gpus)
        if sharing == 1:
            reasons[demand.process] = "a GPU of its own"
            continue
        # Each engine takes its fraction of the memory free when it starts, so fractions
        # that sum to the original one fit in whatever order the workers come up.
        fractions[demand.process] = math.floor(demand.memory_fraction / sharing * 100) / 100
        others = [
            name for name, theirs in chosen.items()
            if name != demand.process and set(theirs) & set(gpus)
        ]  # fmt: skip
        reasons[demand.process] = (
            f"shares GPU {_indices(gpus)} with {', '.join(others)}; KV-cache memory fraction "
            f"{demand.memory_fraction:g} / {sharing} = {fractions[demand.process]:g}"
        )
    return chosen, reasons, fractions


def _too_few(
    demands: list[Demand],
    available: tuple[Gpu, ...],
    skipped: dict[int, str],
    profile: str,
    source: str,
    why_empty: str | None,
    share: bool,
) -> str:
    wants = ", ".join(f"{demand.process} needs {demand.gpus}" for demand in demands)
    needed = sum(demand.gpus for demand in demands)
    if share and available and len(skipped) < len(available):
        biggest = max(demands, key=lambda demand: demand.gpus)
        usable = len(available) - len(skipped)
        where = "" if source == ALL_GPUS else f" selected by {source}"
        return (
            f"{profile} needs {_plural(biggest.gpus)} even with --share-gpus, because "
            f"{biggest.process} spans {biggest.gpus} GPUs, but only {usable} usable GPU"
            f"{'' if usable == 1 else 's'} {'is' if usable == 1 else 'are'}{where}."
        )
    have = len(available)
    if skipped:
        usable = have - len(skipped)
        where = "on this machine" if source == ALL_GPUS else f"selected by {source}"
        count = f"only {usable} of the {_plural(have)}" if usable else "no GPU"
        return (
            f"{profile} needs {_plural(needed)}, but {count} {where} "
            f"{'are' if usable > 1 else 'is'} usable: {'; '.join(skipped.values())}."
        )
    if source != ALL_GPUS:
        selected = "none is" if have == 0 else f"only {have} {'is' if have == 1 else 'are'}"
        return f"{profile} needs {_plural(needed)}, but {selected} selected by {source}: {wants}."
    if have == 0:
        machine = f"no GPU ({why_empty})" if why_empty else "no GPU"
        return f"{profile} needs {_plural(needed)}, this machine has {machine}: {wants}."
    return f"{profile} needs {_plural(needed)}, this machine has {have}: {wants}."


def _too_few_hint(
    demands: list[Demand], usable: tuple[Gpu, ...], skipped: dict[int, str], share: bool
) -> str:
    ways = []
    if usable and not share and max(demand.gpus for demand in demands) <= len(usable):
        ways.append(_SHARE)
    ways.append(_MOCKER if ways else f"run it {_MOCKER}")
    ways.append(_OTHER)
    roles = [demand.process.rsplit("-", 1)[0] for demand in demands]
    # The role with the most replicas is the one whose count is worth lowering.
    role = max(roles, key=roles.count)
    if roles.count(role) > 1:
        ways.append(f"fewer replicas with --set workers.{role}.replicas=1")
    text = ", ".join(ways[:-1]) + ", or " + ways[-1]
    if any("busy" in why for why in skipped.values()):
        text = "stop the process using the busy GPU, " + text
    return text[0].upper() + text[1:] + "."


def _indices(gpus: tuple[Gpu, ...]) -> str:
    return ",".join(str(gpu.index) for gpu in gpus)


def _percent(share: float) -> str:
    return f"{round(share * 100):g}%"


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
