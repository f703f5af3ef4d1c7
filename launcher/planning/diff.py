"""What ``trtl apply`` would change in a running deployment, process by process.

A process is kept when its argv, its environment, its GPUs and the content of the engine
config file it reads are the same in both plans; it is replaced when any differs; it is
added or removed when only one plan has it. The new plan is first *aligned* with the
running one: a kept or replaced process keeps the ports it runs on (``build_plan`` draws
free ports afresh, and a new status port alone is no reason to restart a worker). Some
changes cannot happen process by process (another model, engine or frontend address):
``PlanDiff.blockers`` names them, and the deployment must be restarted.

Plans travel to the supervisor and back as JSON (``plan_to_wire``/``plan_from_wire``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtl.launcher.deployments.paths import RunDir

# plan_types, not plan: the supervisor imports this module, and a cached `trtl up` must
# not load plan's pydantic-based profile schema.
from trtl.launcher.planning.plan_types import Plan, ProcessPlan

if TYPE_CHECKING:
    from trtl.launcher.planning.plan import PlanOptions


@dataclass(frozen=True)
class ProcessChange:
    """One process's fate: ``add``, ``remove``, ``replace`` or ``keep``."""

    name: str
    action: str
    before: ProcessPlan | None = None
    after: ProcessPlan | None = None


@dataclass
class PlanDiff:
    """Every process's fate, and what cannot be changed in place."""

    changes: list[ProcessChange] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def actions(self) -> list[ProcessChange]:
        """The changes to make, in order: new processes first (so capacity only grows
        before it shrinks), then replacements (workers before the frontend), removals last."""
        rank = {"add": 0, "replace": 1, "remove": 2}
        todo = [c for c in self.changes if c.action != "keep"]
        return sorted(todo, key=lambda c: (rank[c.action], c.name == "frontend"))

    @property
    def empty(self) -> bool:
        return not self.actions and not self.blockers

    def summary(self) -> str:
        counts = {a: sum(c.action == a for c in self.changes) for a in ("add", "replace", "remove")}
        kept = sum(c.action == "keep" for c in self.changes)
        parts = [f"{n} to {a}" for a, n in counts.items() if n]
        return (", ".join(parts) or "nothing to change") + f"; {kept} unchanged"


# -- the diff ----------------------------------------------------------------------------


def diff_plans(running: Plan, new: Plan) -> PlanDiff:
    """Compare two plans of one deployment (``new`` aligned with ``align_ports`` first)."""
    result = PlanDiff(blockers=blockers(running, new))
    before = {p.name: p for p in running.processes}
    after = {p.name: p for p in new.processes}
    for name in [*before, *(n for n in after if n not in before)]:
        old, now = before.get(name), after.get(name)
        if old is None:
            action = "add"
        elif now is None:
            action = "remove"
        else:
            same = fingerprint(old, running.files) == fingerprint(now, new.files)
            action = "keep" if same else "replace"
        result.changes.append(ProcessChange(name, action, old, now))
    return result


def blockers(running: Plan, new: Plan) -> list[str]:
    """The changes no process-by-process apply can make, in words."""
    found = []
    pairs = (
        ("the model", running.profile.model, new.profile.model),
        ("the engine", running.profile.engine, new.profile.engine),
        ("the served model name", running.profile.served_name, new.profile.served_name),
        ("the frontend address", running.frontend_url, new.frontend_url),
        ("the frontend's listen address", running.http_host, new.http_host),
    )
    for what, old, now in pairs:
        if old != now:
            found.append(f"{what} ({old} -> {now})")
    return found


def fingerprint(process: ProcessPlan, files: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """What decides whether a process must be restarted: argv, env, GPUs, config content."""
    configs = {str(path): files[path] for path in files if str(path) in process.argv}
    return {"argv": process.argv, "env": process.env, "gpus": process.gpus, "configs": configs}


# -- ports -------------------------------------------------------------------------------


def with_ports(process: ProcessPlan, ports: dict[str, int]) -> ProcessPlan:
    """``process`` listening on ``ports`` instead (argv and env values rewritten)."""
    swap = {
        str(process.ports[key]): str(port)
        for key, port in ports.items()
        if key in process.ports and process.ports[key] != port
    }
    if not swap:
        return process
    return dataclasses.replace(
        process,
        argv=[swap.get(arg, arg) for arg in process.argv],
        env={k: swap.get(v, v) for k, v in process.env.items()},
        ports={**process.ports, **{k: v for k, v in ports.items() if k in process.ports}},
    )


def align_ports(new: Plan, running: Plan) -> Plan:
    """``new`` with every process that also runs now on the ports it runs on."""
    ports = {p.name: p.ports for p in running.processes}
    processes = [
        with_ports(p, ports[p.name]) if p.name in ports and p.name != "frontend" else p
        for p in new.processes
    ]
    return dataclasses.replace(new, processes=processes)


# -- showing it --------------------------------------------------------------------------


def render_diff(diff: PlanDiff, running: Plan, new: Plan) -> str:
    """A unified diff per changed process, like ``kubectl diff``; kept ones in one line."""
    out: list[str] = []
    for change in diff.changes:
        if change.action == "keep":
            continue
        old = _lines(change.before, running.files) if change.before else []
        now = _lines(change.after, new.files) if change.after else []
        label_old = f"running/{change.name}" if change.before else "/dev/null"
        label_new = f"applied/{change.name}" if change.after else "/dev/null"
        out.extend(difflib.unified_diff(old, now, label_old, label_new, lineterm="", n=2))
    kept = [c.name for c in diff.changes if c.action == "keep"]
    if kept:
        out.append(f"unchanged (PIDs kept): {', '.join(kept)}")
    return "\n".join(out)


def _lines(process: ProcessPlan, files: dict[Path, dict[str, Any]]) -> list[str]:
    import yaml

    data = fingerprint(process, files)
    data["argv"] = list(data["argv"])
    return yaml.safe_dump(data, sort_keys=True, width=1000).splitlines()


# -- the wire ----------------------------------------------------------------------------


def plan_to_wire(plan: Plan) -> dict[str, Any]:
    """A plan as JSON, complete enough for ``plan_from_wire`` to rebuild it."""
    data = plan.to_json()
    data["profile_data"] = plan.profile.model_dump(mode="json")
    data["namespace"] = plan.namespace
    data["http_host"] = plan.http_host
    data["gpu_shared"] = plan.gpu_shared
    for process, wire in zip(plan.processes, data["processes"], strict=True):
        wire["replica"] = process.replica
    return data


def plan_from_wire(data: dict[str, Any]) -> Plan:
    """The plan ``plan_to_wire`` wrote. Raises ValueError (or pydantic's) for bad input."""
    from trtl.profiles.schema import Profile

    processes = [
        ProcessPlan(
            name=p["name"],
            role=p["role"],
            mode=p["mode"],
            argv=list(p["argv"]),
            env=dict(p["env"]),
            gpus=list(p["gpus"]),
            ports=dict(p["ports"]),
            replica=p.get("replica", 0),
            gpu_reason=p.get("gpu_reason"),
            gpu_memory_fraction=p.get("gpu_memory_fraction"),
        )
        for p in data["processes"]
    ]
    return Plan(
        deployment=data["deployment"],
        profile=Profile.model_validate(data["profile_data"]),
        namespace=data["namespace"],
        frontend_url=data["frontend_url"],
        run_dir=RunDir(Path(data["run_dir"])),
        processes=processes,
        files={Path(k): v for k, v in data["files"].items()},
        notes=list(data.get("notes", [])),
        gpu_source=data["gpu_placement"]["source"],
        gpu_shared=data.get("gpu_shared", False),
        cpu_only=data["gpu_placement"]["cpu_only"],
        http_host=data["http_host"],
    )


def options_of(plan: Plan) -> PlanOptions:
    """The plan options that would build ``plan`` again (for ``trtl scale``)."""
    from trtl.launcher.planning.plan import PlanOptions

    source = plan.gpu_source or ""
    cvd = "CUDA_VISIBLE_DEVICES="
    frontend = next((p for p in plan.processes if p.role == "frontend"), None)
    return PlanOptions(
        deployment=plan.deployment,
        http_port=int(plan.frontend_url.rsplit(":", 1)[1]),
        http_host=plan.http_host,
        gpus=source.removeprefix("--gpus ") if source.startswith("--gpus ") else None,
        inherited_cvd=source.removeprefix(cvd) if source.startswith(cvd) else None,
        python=frontend.argv[0] if frontend else None,
        share_gpus=plan.gpu_shared,
    )
