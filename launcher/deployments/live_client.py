"""The client side of ``trtl apply``, ``scale`` and ``restart``: ask the running supervisor.

The new plan is built here (so a profile that does not validate, or GPUs that run out, are
refused before the supervisor hears of it), aligned with the running plan and diffed; the
supervisor receives the whole new plan and makes the changes itself. Placement treats the
GPUs the deployment's own processes hold as free: they are the ones being rearranged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trtl.launcher.deployments.lifecycle import is_active
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.deployments.state import DeploymentState, read_state
from trtl.launcher.planning.diff import (
    PlanDiff,
    align_ports,
    diff_plans,
    plan_from_wire,
    plan_to_wire,
)
from trtl.launcher.planning.plan import Plan, PlanOptions, build_plan
from trtl.launcher.supervision.control import ask
from trtl.profiles.errors import ProfileError, SupervisorError
from trtl.profiles.schema import Profile

DESCRIBE_TIMEOUT = 10.0
# A change waits until the new processes are up: real engines load for minutes.
CHANGE_TIMEOUT = 3 * 3600.0


def running_state(name: str) -> DeploymentState | None:
    """The deployment's state if its supervisor runs, else None."""
    state = read_state(RunDir.for_deployment(name))
    if state is None or not is_active(state.state):
        return None
    return state


def running_plan(state: DeploymentState) -> Plan:
    """What the supervisor runs now. Raises SupervisorError when it does not answer."""
    answer = _ask(state, "describe", {}, DESCRIBE_TIMEOUT)
    return plan_from_wire(answer["plan"])


def replan(profile: Profile, options: PlanOptions, state: DeploymentState) -> Plan:
    """The new plan for ``profile``, placed as if the deployment's own GPUs were free."""
    from trtl.profiles.engines import engine

    inventory = None
    if engine(profile.engine).uses_gpus:
        from trtl.launcher.gpus.inventory import read_inventory

        inventory = _without(read_inventory(), state)
    return build_plan(profile, options, inventory)


def _without(inventory, state: DeploymentState):
    """``inventory`` less the GPU memory the deployment's own process trees hold."""
    from trtl.launcher.gpus.usage import process_tree

    ours = {pid for p in state.processes if p.pid for pid in process_tree(p.pid)}
    gpus = []
    for gpu in inventory.gpus:
        mine = [p for p in gpu.processes if p.pid in ours]
        held = sum(p.memory_mib or 0 for p in mine)
        gpus.append(
            dataclasses.replace(
                gpu,
                memory_used_mib=max(gpu.memory_used_mib - held, 0),
                processes=tuple(p for p in gpu.processes if p.pid not in ours),
            )
        )
    return dataclasses.replace(inventory, gpus=tuple(gpus))


def compare(running: Plan, new: Plan) -> tuple[Plan, PlanDiff]:
    """``new`` aligned with ``running``, and the diff between them."""
    aligned = align_ports(new, running)
    return aligned, diff_plans(running, aligned)


def refuse_too_big(running: Plan, new: Plan, hint: str) -> None:
    """Refuse to grow the graph past what this machine runs, in the words of ``trtl up``
    (a live graph must not reach a size its next ``up`` refuses). Raises PlacementError."""
    from trtl.launcher.planning.limits import check_graph_size

    if len(new.processes) > len(running.processes):
        check_graph_size(
            len(new.processes), new.profile.name, running=len(running.processes), hint=hint
        )


def refuse_blockers(diff: PlanDiff, deployment: str) -> None:
    """A change no in-place apply can make: say so, and what to do. Raises ProfileError."""
    if diff.blockers:
        raise ProfileError(
            f"apply cannot change {_listed(diff.blockers)} of the running {deployment!r} "
            "in place; the deployment was left as it is.",
            hint=f"Restart it with the new settings: `trtl down {deployment}`, then `trtl up`.",
        )


def _listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def submit(state: DeploymentState, new: Plan) -> dict[str, Any]:
    """Ask the supervisor to apply ``new``; its answer once done. Raises SupervisorError."""
    return _ask(state, "apply", {"plan": plan_to_wire(new)}, CHANGE_TIMEOUT)


def restart(state: DeploymentState, processes: list[str]) -> dict[str, Any]:
    return _ask(state, "restart", {"processes": processes}, CHANGE_TIMEOUT)


def _ask(state: DeploymentState, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    root = RunDir.for_deployment(state.deployment).root
    answer = ask(root, state.deployment, op, args, timeout=timeout)
    if not answer.get("ok"):
        tail = answer.get("tail") or []
        hint = None
        if tail:
            hint = f"last {len(tail)} lines of its log ({answer.get('log')}):\n" + "\n".join(
                f"    {line}" for line in tail
            )
        raise SupervisorError(
            answer.get("message") or "refused", hint=hint, exit_code=answer.get("exit_code", 1)
        )
    return answer
