"""LiveChanges on a scripted supervisor: the order of a replacement, and its failures.

No process runs: a fake supervisor records what LiveChanges asks of it, and the test feeds
the events the prober and the waiter threads would send (the real thing is in
``tests/e2e/test_live_changes.py``).
"""

from __future__ import annotations

import collections
import dataclasses
import signal
from pathlib import Path
from types import SimpleNamespace

from trtl.launcher.deployments.lifecycle import ProcessStatus as P
from trtl.launcher.deployments.state import ProcessState
from trtl.launcher.gpus.inventory import Gpu, Inventory
from trtl.launcher.planning.diff import align_ports, plan_to_wire
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.supervision.component import Exited
from trtl.launcher.supervision.control import ControlRequest
from trtl.launcher.supervision.live import LiveChanges
from trtl.launcher.supervision.probe import Registered
from trtl.profiles.loader import load_profile


class FakeComponent:
    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self.log_path = Path(f"logs/{name}.log")
        self.alive = True
        self.signals: list[int] = []
        self.tail = collections.deque(["loading", "boom: no weights"])

    def signal_group(self, sig: int) -> None:
        self.signals.append(sig)


class FakeSupervisor:
    """What LiveChanges uses of a Supervisor, recording the calls."""

    def __init__(self, plan):
        self.plan, self.timeout, self.grace, self.now = plan, 60.0, 5.0, 100.0
        self.stopping, self.listed = False, True
        self.state = SimpleNamespace(ready_after=1.0, profile=plan.profile.name)
        self.components = {
            p.name: FakeComponent(p.name, 10 + i) for i, p in enumerate(plan.processes)
        }
        self.procs = {
            p.name: ProcessState(p.name, p.role, pid=10 + i, state=P.RUNNING, gpus=p.gpus)
            for i, p in enumerate(plan.processes)
        }
        self.calls: list[tuple] = []
        self.mux = SimpleNamespace(info=lambda text: None)

    def clock(self) -> float:
        return self.now

    def spawn(self, process, name):
        self.calls.append(("spawn", name))
        return FakeComponent(name, 100 + len(self.calls))

    def install(self, component, process):
        self.calls.append(("install", process.name, component.pid))
        component.name = process.name
        self.components[process.name] = component
        self.procs[process.name].pid = component.pid

    def retire(self, name, keep_entry, new_name):
        self.calls.append(("retire", name))
        component = self.components.pop(name)
        component.name = new_name
        component.signal_group(signal.SIGTERM)
        self.procs[name].state = P.STOPPING
        return component

    def restart_as(self, process):
        self.calls.append(("restart_as", process.name))
        self.components[process.name] = FakeComponent(process.name, 500)
        self.procs[process.name].state, self.procs[process.name].pid = P.STARTING, 500

    def unprobe(self, name):
        self.calls.append(("unprobe", name))


def plans(*sets: str, gpus: int = 0):
    engine = "trtllm" if gpus else "mocker"
    inventory = Inventory(tuple(Gpu(i, f"GPU-{i}", "H100", 81559, 0) for i in range(gpus)), None)
    options = PlanOptions(deployment="d")

    def one(*more: str):
        profile = load_profile("agg_router", overrides=(*sets, *more), engine=engine)
        return build_plan(profile, options, inventory if gpus else None)

    running = one()
    return running, align_ports(one("workers.worker.env.MARK=1"), running)


def apply(live: LiveChanges, new) -> ControlRequest:
    request = ControlRequest("apply", {"plan": plan_to_wire(new)})
    live.request(request)
    return request


def test_a_worker_is_replaced_by_one_started_beside_it():
    running, new = plans()
    sup = FakeSupervisor(running)
    live = LiveChanges(sup)
    request = apply(live, new)
    assert sup.calls == [("spawn", "worker-0~new1")]
    old = sup.components["worker-0"]
    assert live.claims(Registered("worker-0~new1", True))
    # Up: the old one is retired only now, then worker-1 gets its candidate.
    assert sup.calls[1:4] == [
        ("retire", "worker-0"),
        ("install", "worker-0", 101),
        ("spawn", "worker-1~new3"),
    ]
    assert old.signals == [signal.SIGTERM]
    live.claims(Registered("worker-1~new3", True))
    answer = request.answer.get_nowait()
    assert answer["ok"], answer
    assert answer["done"] == [
        "worker-0 replaced (pid 11 -> 101)",
        "worker-1 replaced (pid 12 -> 104)",
    ]
    # The retired ones get SIGKILL once their grace is over.
    sup.now += sup.grace
    live.tick(sup.now)
    assert old.signals == [signal.SIGTERM, signal.SIGKILL]


def test_a_candidate_that_exits_leaves_the_old_one_serving():
    running, new = plans()
    sup = FakeSupervisor(running)
    live = LiveChanges(sup)
    request = apply(live, new)
    assert live.claims(Exited("worker-0~new1", 1, 3))
    answer = request.answer.get_nowait()
    assert not answer["ok"] and answer["exit_code"] == 1
    assert "the new worker-0 did not come up: it exited with code 3" in answer["message"]
    assert "the running worker-0 (pid 11) keeps serving" in answer["message"]
    assert answer["tail"] == ["loading", "boom: no weights"]
    assert ("retire", "worker-0") not in sup.calls
    assert sup.components["worker-0"].signals == []
    assert live.op is None  # the next change may come


def test_a_second_change_while_one_runs_is_refused():
    running, new = plans()
    sup = FakeSupervisor(running)
    live = LiveChanges(sup)
    apply(live, new)
    second = apply(live, new)
    answer = second.answer.get_nowait()
    assert answer["exit_code"] == 2
    assert "another apply, scale or restart of 'd' is in progress" in answer["message"]


def test_a_worker_on_the_same_gpu_is_stopped_first():
    running, new = plans(gpus=2)
    sup = FakeSupervisor(running)
    live = LiveChanges(sup)
    request = apply(live, new)
    assert sup.calls == [("retire", "worker-0")]  # its GPU is taken until it is gone
    old = next(c for c, _ in live.retiring.values())
    live.tick(sup.now)
    assert sup.calls == [("retire", "worker-0")]  # still draining
    old.alive = False
    live.tick(sup.now)
    assert sup.calls[-1] == ("restart_as", "worker-0")
    sup.procs["worker-0"].state = P.RUNNING
    live.tick(sup.now)
    assert sup.calls[-1] == ("retire", "worker-1")
    assert request.answer.empty()


def test_nothing_to_change_and_blockers():
    running, _ = plans()
    sup = FakeSupervisor(running)
    live = LiveChanges(sup)
    same = apply(live, running).answer.get_nowait()
    assert same["ok"] and "nothing to change" in same["message"]
    moved = dataclasses.replace(running, frontend_url="http://127.0.0.1:9")
    blocked = apply(live, moved).answer.get_nowait()
    assert blocked["exit_code"] == 2 and "cannot change in place" in blocked["message"]
    assert sup.calls == []


def test_a_restart_replayed_through_the_real_supervisor_moves_states_legally():
    # The real Supervisor with its injected spawner and prober: a live change makes its
    # processes through the spawner, and every state change passes lifecycle.move.
    from trtl.launcher.deployments.lifecycle import DeploymentStatus as D
    from trtl.launcher.supervision.component import Line
    from trtl.launcher.supervision.probe import ModelListed
    from trtl.launcher.supervision.supervisor import StopRequested

    from tests.launcher.test_supervisor_events import FakeProcess, Run, states

    run = Run()
    run.ready()
    old = run.handle("worker-0")
    ask = ControlRequest("restart", {"processes": ["worker-0"]})
    run.step(ask)
    (step,) = run.sup.live.op.steps
    candidate = step.candidate
    assert isinstance(candidate, FakeProcess) and candidate.name == "worker-0~new1"
    run.step(Registered("worker-0~new1", True))
    assert ask.answer.get_nowait()["ok"]
    new = run.handle("worker-0")
    assert new is candidate and new.name == "worker-0" and old.name == "worker-0~old2"
    assert old.signals == [signal.SIGTERM]
    assert run.proc().state == P.RUNNING and run.sup.state.state == D.READY
    run.step(Line("worker-0~old2", "draining"))  # a retired process's line: no lookup
    old.alive = False
    run.step(Exited("worker-0~old2", old.generation, -signal.SIGTERM))
    assert run.proc().state == P.RUNNING  # the old one's exit is not the new one's

    # The frontend cannot run beside itself: stopped first, then started in its place.
    frontend = run.handle("frontend")
    ask = ControlRequest("restart", {"processes": ["frontend"]})
    run.step(ask)
    assert run.proc("frontend").state == P.STOPPING
    frontend.alive = False
    run.step(None)
    assert run.proc("frontend").state == P.STARTING
    run.step(ModelListed(True))
    run.step(None)
    assert ask.answer.get_nowait()["ok"]
    assert run.proc("frontend").state == P.RUNNING and run.sup.state.state == D.READY
    run.step(StopRequested(signal.SIGTERM))
    assert states(run.end()) == {"frontend": "stopped", "worker-0": "stopped"}
