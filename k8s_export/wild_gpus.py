"""GPUs per replica of an imported worker, as the engine really uses them.

``resources.limits`` names the GPUs of one pod; a multinode component
(``multinode.nodeCount``) runs one replica over that many pods, so the replica uses
limit × nodes. Without a limit, the engine's own flags say it: tensor × pipeline parallel,
times data parallel for vLLM (``--data-parallel-size``) and SGLang without DP attention
(``--dp-size``). TensorRT-LLM's attention data parallel and expert parallel, and vLLM's
expert parallel, spread over the tensor-parallel ranks and add no GPU.
"""

from __future__ import annotations

from typing import Any

from trtl.profiles.engines import engine, engine_of_module
from trtl.profiles.engines.base import RoleRead

from .pods import gpu_resource
from .shapes import GPU

TENSOR = ("--tensor-parallel-size", "-tp", "--tp", "--tp-size")
PIPELINE = ("--pipeline-parallel-size", "-pp", "--pp-size")


def nodes(component_extra: dict[str, Any]) -> int:
    """``multinode.nodeCount`` of a component (1 when it runs on one node)."""
    multinode = component_extra.get("multinode")
    count = multinode.get("nodeCount") if isinstance(multinode, dict) else None
    return count if isinstance(count, int) and count > 0 else 1


def from_flags(module: str, args: list[str], role: dict[str, Any]) -> tuple[int, str]:
    """(GPUs per replica the command asks for, how that was derived)."""
    parts = [("tensor parallel", role.get("tensor_parallel_size") or _flag(args, TENSOR))]
    parts.append(("pipeline parallel", role.get("pipeline_parallel_size") or _flag(args, PIPELINE)))
    eng = engine_of_module(module)
    if eng is not None:  # each engine names its own data-parallel flags
        parts.append(("data parallel", eng.data_parallel(args)))
    total = 1
    shown = []
    for label, size in parts:
        total *= size or 1
        if size and size > 1:
            shown.append(f"{label} {size}")
    return total, " × ".join(shown) or "one GPU"


def _flag(args: list[str], names: tuple[str, ...]) -> int | None:
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in names:
            text = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            return int(text) if text.isdigit() else None
    return None


def no_gpu_limit(
    name: str, settings: dict[str, Any], limit: int | None, read: RoleRead, notes: list[str]
) -> bool:
    """Whether the export must add no ``nvidia.com/gpu`` (the cluster gave the worker none).

    A MIG slice or an explicit ``nvidia.com/gpu: 0`` stays in ``resources.limits.other``
    and replaces the whole GPUs on export by itself; a container with no GPU limit at all
    needs ``k8s.launch.no_gpu_limit``. Locally the worker still runs on the role's GPUs.
    """
    if not engine(read.engine).uses_gpus:  # the export of a mocker asks for none anyway
        return False
    limits = (settings["resources"].get("limits") or {}).get("other") or {}
    named = gpu_resource(limits)
    if named is None and limit is not None:
        return False
    role = read.role
    parallel = (role.get("tensor_parallel_size") or 1) * (role.get("pipeline_parallel_size") or 1)
    local = settings["gpus"] or parallel
    gpus = f"{local} GPU" + ("s" if local > 1 else "")
    if named == GPU:  # nvidia.com/gpu: 0
        notes.append(
            f"component {name}: the cluster gives it no GPU (nvidia.com/gpu: 0); locally it "
            f"runs on {gpus}, and the export writes the limit as it was."
        )
        return False
    if named is not None:
        notes.append(
            f"component {name}: the cluster gives it {named}: {limits[named]} rather than "
            f"whole GPUs; locally it runs on {gpus}, and the export writes the limit as it was."
        )
        return False
    notes.append(
        f"component {name}: the cluster gives it no GPU (no nvidia.com/gpu limit); locally "
        f"it runs on {gpus}, and the export adds no GPU limit."
    )
    return True


def replica_gpus(
    limit: int | None, node_count: int, derived: tuple[int, str], name: str, notes: list[str]
) -> int | None:
    """GPUs per replica for the profile (None: the role's tensor × pipeline default)."""
    count, how = derived
    if limit is not None and node_count > 1:
        notes.append(
            f"component {name}: {node_count} nodes × {limit} GPUs = {limit * node_count} GPUs "
            "per replica (multinode); locally they must all be on this machine."
        )
        return limit * node_count
    if limit is None and count > 1:
        notes.append(f"component {name}: {count} GPUs per replica ({how}).")
        return count
    return limit
