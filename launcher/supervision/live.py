"""Changes to a running deployment, carried out on the supervisor's own loop.

The control channel queues a request; ``LiveChanges.request`` turns it into steps and
``tick`` advances them, one process at a time (a rolling change). A process is added, or
replaced where it can run beside its predecessor (no GPU of its own in common with a
running process, not the frontend with its fixed port), as a *candidate*: started under a
temporary name, outside the deployment, until its status server reports it registered.
Only then is it installed, and the process it replaces stopped (SIGTERM: it drains its
requests while the frontend already routes new ones to the candidate). A candidate that
exits or never comes up is killed and reported with its last lines, and the process it was
to replace keeps serving. Where the two cannot run side by side, the old one is stopped
first and the new one started in its place. Removed processes are stopped last.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trtl.launcher.deployments.lifecycle import ProcessStatus
from trtl.launcher.planning.diff import (
    ProcessChange,
    diff_plans,
    plan_from_wire,
    plan_to_wire,
    with_ports,
)
from trtl.launcher.planning.plan_types import ProcessPlan
from trtl.launcher.supervision.component import Exited, Line
from trtl.launcher.supervision.control import ControlRequest
from trtl.launcher.supervision.probe import Registered, Silent, Usurped
from trtl.launcher.supervision.seams import ProcessHandle

if TYPE_CHECKING:
    from trtl.launcher.supervision.supervisor import Supervisor

TAIL = 15
P = ProcessStatus


@dataclass
class Step:
    """One process's change, and how far it got."""

    change: ProcessChange
    phase: str = "pending"  # pending | candidate | draining | restarting | done
    candidate: ProcessHandle | None = None
    retired: ProcessHandle | None = None
    deadline: float = 0.0
    old_pid: int | None = None
    process: ProcessPlan | None = None  # what the candidate runs (on ports of its own)


@dataclass
class Operation:
    request: ControlRequest
    what: str  # "apply" | "restart"
    steps: list[Step]
    started: float
    done: list[str] = dataclasses.field(default_factory=list)
    old_files: dict = dataclasses.field(default_factory=dict)  # engine configs before it
    written: set = dataclasses.field(default_factory=set)  # configs a finished step runs with


class LiveChanges:
    """Apply, scale and restart for one supervisor; every method runs on its loop."""

    def __init__(self, supervisor: Supervisor):
        self.sup = supervisor
        self.op: Operation | None = None
        self.retiring: dict[str, tuple[ProcessHandle, float]] = {}  # name -> (it, SIGKILL at)
        self._serial = 0

    def components(self) -> list[ProcessHandle]:
        """Processes outside the deployment that still run: candidates and retired ones."""
        found = [c for c, _ in self.retiring.values()]
        if self.op:
            found += [s.candidate for s in self.op.steps if s.candidate is not None]
        return found

    def find(self, name: str) -> ProcessHandle | None:
        """The candidate or retired process of that (temporary) name, if any."""
        if name in self.retiring:
            return self.retiring[name][0]
        step = self._step_of(name)
        return step.candidate if step is not None else None

    def temporary_name(self, name: str, kind: str) -> str:
        self._serial += 1
        return f"{name}~{kind}{self._serial}"

    # -- events -----------------------------------------------------------------------------

    def claims(self, event: object) -> bool:
        """Take the events of candidates and retired processes (and stale ones of removed
        processes); True when the supervisor's own handling must skip ``event``. Their
        lines are in their log files (and on the terminal where it follows them): a Line
        event of theirs is dropped, never looked up as one of the deployment's."""
        if not isinstance(event, (Line, Exited, Registered, Silent, Usurped)):
            return False
        if "~" not in event.name and event.name in self.sup.components:
            return False
        if isinstance(event, Exited):
            self._exited(event)
        elif isinstance(event, Registered) and event.registered:
            step = self._step_of(event.name)
            if step is not None:
                self._candidate_up(step)
        elif isinstance(event, Usurped):
            step = self._step_of(event.name)
            if step is not None:
                self._fail(step, f"its port {event.port} is held by {event.holder}")
        return True

    def _exited(self, event: Exited) -> None:
        if event.name in self.retiring:
            component, _ = self.retiring.pop(event.name)
            component.signal_group(signal.SIGKILL)  # what its tree left
            return
        step = self._step_of(event.name)
        if step is not None and step.candidate is not None:
            self._fail(step, f"it exited with code {event.returncode} before it was up")

    def _step_of(self, name: str) -> Step | None:
        op = self.op  # read once: the prober's thread asks too (``find``)
        if op is None:
            return None
        return next((s for s in op.steps if s.candidate and s.candidate.name == name), None)

    # -- requests ---------------------------------------------------------------------------

    def request(self, req: ControlRequest) -> None:
        sup = self.sup
        if req.op == "describe":
            req.reply(True, plan=plan_to_wire(sup.plan), busy=self.op is not None)
            return
        if self.op is not None:
            req.reply(
                False,
                f"another apply, scale or restart of {sup.plan.deployment!r} is in progress "
                f"(for {time.monotonic() - self.op.started:.0f} s); the deployment was left "
                "as it is: wait until it ends, then try again.",
                2,
            )
        elif sup.stopping or sup.state.ready_after is None:
            why = "is stopping" if sup.stopping else "has not been ready yet"
            req.reply(False, f"{sup.plan.deployment!r} {why}; nothing was changed.", 1)
        elif req.op == "apply":
            self._apply(req)
        elif req.op == "restart":
            self._restart(req)
        else:
            req.reply(False, f"unknown request {req.op!r}", 2)

    def _apply(self, req: ControlRequest) -> None:
        try:
            new = plan_from_wire(req.args["plan"])
        except (KeyError, TypeError, ValueError) as exc:
            req.reply(False, f"the plan sent is not readable ({type(exc).__name__})", 2)
            return
        diff = diff_plans(self.sup.plan, new)
        if diff.blockers:
            req.reply(False, "cannot change in place: " + "; ".join(diff.blockers), 2)
            return
        if not diff.actions:
            self.sup.plan = dataclasses.replace(self.sup.plan, profile=new.profile)
            req.reply(True, "nothing to change; every process keeps running", changes=[])
            return
        old_files = self.sup.plan.files
        # New roles' restart policies and the state's profile name come from the new profile.
        self.sup.plan = dataclasses.replace(self.sup.plan, profile=new.profile, files=new.files)
        self.sup.state.profile = new.profile.name
        self._begin(req, "apply", diff.actions)
        if self.op is not None:
            self.op.old_files = old_files

    def _restart(self, req: ControlRequest) -> None:
        targets = list(req.args.get("processes") or [p.name for p in self.sup.plan.processes])
        by_name = {p.name: p for p in self.sup.plan.processes}
        unknown = [t for t in targets if t not in by_name]
        if unknown or not targets:
            req.reply(False, f"no process named {', '.join(unknown) or '(none)'}", 2)
            return
        changes = [ProcessChange(n, "replace", by_name[n], by_name[n]) for n in targets]
        self._begin(req, "restart", sorted(changes, key=lambda c: c.name == "frontend"))

    def _begin(self, req: ControlRequest, what: str, changes: list[ProcessChange]) -> None:
        self.op = Operation(req, what, [Step(c) for c in changes], time.monotonic())
        self.sup.mux.info(f"{what}: " + ", ".join(f"{c.action} {c.name}" for c in changes))
        self.tick(self.sup.clock())

    # -- progress ---------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance the operation in progress; SIGKILL retired processes past their grace."""
        for component, kill_at in list(self.retiring.values()):
            if now >= kill_at:
                component.signal_group(signal.SIGKILL)
        op = self.op
        while op is not None and self.op is op:
            step = next((s for s in op.steps if s.phase != "done"), None)
            if step is None:
                self._finish()
                return
            before = step.phase
            self._advance(step, now)
            if step.phase == before:
                return  # waiting for the process

    def _advance(self, step: Step, now: float) -> None:
        change, sup = step.change, self.sup
        if step.phase == "pending":
            step.old_pid = sup.procs[change.name].pid if change.name in sup.procs else None
            if change.action == "remove":
                self._retire(change.name, keep_entry=False)
                self._done(step, f"{change.name} removed (pid {step.old_pid} stopping)")
            elif change.action == "add" or self._side_by_side(change.after):
                _write_files(sup.plan.files, change.after)
                name = self.temporary_name(change.name, "new")
                step.process = _fresh_ports(change.after)
                step.candidate = sup.spawn(step.process, name)
                step.phase, step.deadline = "candidate", now + sup.timeout
            else:
                step.retired = self._retire(change.name, keep_entry=True)
                step.phase = "draining"
        elif step.phase == "candidate" and now >= step.deadline:
            self._fail(step, f"it did not come up within {sup.timeout:g} s")
        elif step.phase == "draining" and not step.retired.alive:
            _write_files(sup.plan.files, change.after)
            sup.restart_as(change.after)
            step.phase, step.deadline = "restarting", now + sup.timeout
        elif step.phase == "restarting":
            proc = sup.procs[change.name]
            if proc.state == P.RUNNING and (change.name != "frontend" or sup.listed):
                self._done(step, f"{change.name} replaced (pid {step.old_pid} -> {proc.pid})")
            elif proc.state in (P.BACKOFF, P.FAILED) or now >= step.deadline:
                self._fail(step, f"it did not come up ({proc.state})", in_place=True)

    def _side_by_side(self, process: ProcessPlan) -> bool:
        """Whether the new process can start while the old one still runs."""
        if process.role == "frontend":
            return False  # one HTTP port
        alive = [p for p in self.sup.procs.values() if p.state in (P.STARTING, P.RUNNING)]
        held = {gpu for p in alive for gpu in p.gpus}
        return not (set(process.gpus) & held)

    def _candidate_up(self, step: Step) -> None:
        change, sup = step.change, self.sup
        if change.action == "replace":
            self._retire(change.name, keep_entry=True)
        candidate, step.candidate = step.candidate, None
        sup.install(candidate, step.process)
        verb = "added" if change.action == "add" else "replaced"
        was = f"pid {step.old_pid} -> " if step.old_pid else "pid "
        self._done(step, f"{change.name} {verb} ({was}{candidate.pid})")
        self.tick(sup.clock())

    def _retire(self, name: str, keep_entry: bool) -> ProcessHandle:
        component = self.sup.retire(name, keep_entry, self.temporary_name(name, "old"))
        self.retiring[component.name] = (component, self.sup.clock() + self.sup.grace)
        return component

    def _done(self, step: Step, text: str) -> None:
        step.phase = "done"
        assert self.op is not None
        if step.change.after is not None:
            self.op.written.update(_configs_of(self.sup.plan.files, step.change.after))
        self.op.done.append(text)
        self.sup.mux.info(text)

    # -- endings ----------------------------------------------------------------------------

    def abandon(self) -> None:
        """The deployment is stopping: answer the request in progress."""
        op, self.op = self.op, None
        if op is not None:
            name = self.sup.plan.deployment
            op.request.reply(False, f"{name!r} stopped during the {op.what}.", 1)

    def _finish(self) -> None:
        op, self.op = self.op, None
        assert op is not None
        took = time.monotonic() - op.started
        text = f"{op.what} done in {took:.1f} s: " + "; ".join(op.done)
        op.request.reply(True, text, done=op.done)

    def _fail(self, step: Step, why: str, in_place: bool = False) -> None:
        op, self.op = self.op, None
        assert op is not None
        name = step.change.name
        component = step.candidate or self.sup.components.get(name)
        tail = list(component.tail)[-TAIL:] if component else []
        if step.candidate is not None:
            step.candidate.signal_group(signal.SIGKILL)
            self.retiring[step.candidate.name] = (step.candidate, self.sup.clock())
        if step.candidate is not None:
            self.sup.unprobe(step.candidate.name)
        kept = (
            f"the running {name} (pid {step.old_pid}) keeps serving"
            if step.change.action == "replace" and not in_place
            else f"{name} was stopped first (its GPUs or port are taken) and is restarting"
            if in_place
            else "nothing else was changed"
        )
        if step.change.after is not None and not in_place:
            # Its predecessor goes on with the config it was started with: put that back,
            # unless a process this change already replaced runs with the new one.
            mine = _configs_of(self.sup.plan.files, step.change.after) - op.written
            _restore(op.old_files, mine)
        log = component.log_path if component else self.sup.plan.run_dir.logs / f"{name}.log"
        message = f"the new {name} did not come up: {why}; {kept}."
        if op.done:
            message += " Done before it: " + "; ".join(op.done) + "."
        self.sup.mux.info(f"error: {message}")
        op.request.reply(False, message, 1, tail=tail, log=str(log))


def _fresh_ports(process: ProcessPlan) -> ProcessPlan:
    """``process`` on free ports: beside its predecessor, it cannot listen on the same."""
    from trtl.launcher.planning.ports import free_ports

    taken = set(process.ports.values())
    fresh = iter(free_ports(len(process.ports), exclude=taken))
    return with_ports(process, {key: next(fresh) for key in process.ports})


def _configs_of(files: dict[Path, dict], process: ProcessPlan) -> set[Path]:
    """The engine config files (of ``files``) that ``process`` reads."""
    return {path for path in files if str(path) in process.argv}


def _write_files(files: dict[Path, dict], process: ProcessPlan) -> None:
    """Write the engine configs ``process`` reads, just before it starts."""
    import yaml

    for path in _configs_of(files, process):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(files[path], sort_keys=False))


def _restore(old: dict[Path, dict], paths: set[Path]) -> None:
    import yaml

    for path in paths:
        if path in old:
            path.write_text(yaml.safe_dump(old[path], sort_keys=False))
