"""The supervisor's decisions, replayed from event scripts: no process, no socket, a fake clock.

Each test drives ``begin``/``step``/``finish`` (the real loop's parts) with the events a run
would bring (exits, health answers, silence, stop requests) and checks what a user would
see: the exit code and message, each process's state, and the state file.
"""

from __future__ import annotations

import io
import json
import signal

import pytest
from trtl.launcher.deployments.lifecycle import (
    DeploymentStatus,
    IllegalTransition,
    ProcessStatus,
    move,
)
from trtl.launcher.deployments.run_setup import prepare_run_dir
from trtl.launcher.planning.plan import PlanOptions, build_plan
from trtl.launcher.supervision.component import Exited
from trtl.launcher.supervision.logmux import LogMux
from trtl.launcher.supervision.probe import ModelListed, Registered, Silent, Usurped
from trtl.launcher.supervision.supervisor import StopRequested, Supervisor
from trtl.profiles.loader import load_profile

P, D = ProcessStatus, DeploymentStatus
WORKER = "worker-0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProcess:
    """A process handle that spawns nothing: records starts and signals."""

    def __init__(self, plan, log_path, emit, env, forward_lines=True, *, clock: Clock):
        self.plan, self.name, self.clock = plan, plan.name, clock
        self.log_path = log_path
        self.pid: int | None = None  # no real PID: nothing is ever signalled
        self.create_time: float | None = None
        self.started_at: float | None = None
        self.generation = 0
        self.tail = [f"{self.name} says goodbye"]
        self.alive = False
        self.signals: list[int] = []

    def start(self, watch: bool = True) -> None:
        self.generation += 1
        self.started_at = self.clock()
        self.alive = True

    def watch(self) -> None:
        """Nothing to follow: events come from the test's script."""

    def signal_group(self, sig: int) -> None:
        self.signals.append(sig)


class FakeProber:
    def __init__(self, frontend_url, served_name, status_ports, *args, **kwargs) -> None:
        self.status_ports = status_ports  # a live change adds and removes processes' ports
        self.forgotten: list[str] = []
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def forget(self, name: str) -> None:
        self.forgotten.append(name)


class Run:
    """A supervisor of the mocker ``agg`` graph (frontend + worker-0) with fakes around it."""

    def __init__(self, **policy: float) -> None:
        sets = tuple(f"workers.worker.restart.{k}={v}" for k, v in policy.items())
        profile = load_profile("agg", engine="mocker", overrides=sets)
        self.plan = build_plan(profile, PlanOptions(deployment="events"))
        prepare_run_dir(self.plan)
        self.clock = Clock()
        self.out = io.StringIO()
        self.sup = Supervisor(
            self.plan,
            LogMux([p.name for p in self.plan.processes], stream=self.out),
            timeout=600,
            grace=5,
            clock=self.clock,
            spawn=lambda *a, **k: FakeProcess(*a, **k, clock=self.clock),
            prober=FakeProber,
        )
        self.sup.begin(4242, 1.0)

    def proc(self, name: str = WORKER):
        return self.sup.procs[name]

    def handle(self, name: str = WORKER) -> FakeProcess:
        return self.sup.components[name]  # type: ignore[return-value]

    def step(self, event: object | None = None, after: float = 0.0) -> None:
        self.clock.now += after
        self.sup.step(event)

    def exit(self, name: str, code: int) -> None:
        handle = self.handle(name)
        handle.alive = False
        self.step(Exited(name, handle.generation, code))

    def ready(self) -> None:
        self.step(Registered(WORKER, True))
        self.step(ModelListed(True))
        assert self.sup.state.state == D.READY

    def end(self) -> dict:
        """Let every process that is still alive exit, finish, and read the state file."""
        for name, handle in self.sup.components.items():
            if handle.alive:
                self.exit(name, -signal.SIGTERM)
        assert self.sup.finished
        self.sup.finish()
        return json.loads((self.plan.run_dir.root / "state.json").read_text())


def states(written: dict) -> dict[str, str]:
    return {p["name"]: p["state"] for p in written["processes"]}


def test_exit_before_up_ends_the_run_with_its_code_and_the_culprit_stays_failed():
    run = Run()
    run.exit(WORKER, 3)
    assert run.sup.outcome is not None and run.sup.outcome.exit_code == 3
    assert "worker-0 exited with code 3 before it was up" in run.sup.outcome.message
    assert run.proc().state == P.FAILED
    assert run.proc("frontend").state == P.STOPPING
    assert signal.SIGTERM in run.handle("frontend").signals
    written = run.end()
    # The process that caused the failure shows failed, the one stopped for it stopped.
    assert written["state"] == "failed"
    assert states(written) == {"frontend": "stopped", WORKER: "failed"}


def test_exit_after_up_restarts_after_the_backoff_and_the_deployment_recovers():
    run = Run()
    run.ready()
    run.exit(WORKER, 1)
    assert run.sup.outcome is None
    assert run.proc().state == P.BACKOFF and run.sup.state.state == D.DEGRADED
    run.step(after=0.1)
    assert run.handle().generation == 1  # not before the backoff delay (0.5 s)
    run.step(after=0.5)
    assert run.handle().generation == 2 and run.proc().restarts == 1
    assert run.proc().state == P.STARTING and WORKER in run.sup.prober.forgotten
    run.step(Registered(WORKER, True))
    assert run.sup.state.state == D.READY
    assert "ready again" in run.out.getvalue()


def test_an_exit_of_an_older_incarnation_is_ignored():
    run = Run()
    run.ready()
    run.step(Exited(WORKER, generation=0, returncode=1))
    assert run.proc().state == P.RUNNING and run.sup.outcome is None


@pytest.mark.parametrize("was_up", [True, False])
def test_hang_is_killed_and_restarted_like_a_crash_even_before_up(was_up):
    run = Run(hang_timeout=10)
    if was_up:
        run.ready()
    run.step(Silent(WORKER, True))
    run.step(after=9.9)
    assert run.handle().signals == []
    run.step(after=0.2)
    assert run.handle().signals == [signal.SIGKILL]
    assert "has not answered its status server's /health for 10 s" in run.out.getvalue()
    # trtl's own SIGKILL is not a configuration error of the process.
    run.exit(WORKER, -signal.SIGKILL)
    assert run.sup.outcome is None and run.proc().state == P.BACKOFF


def test_silence_that_ends_in_time_is_forgiven():
    run = Run(hang_timeout=10)
    run.ready()
    run.step(Silent(WORKER, True))
    run.step(Silent(WORKER, False), after=9)
    run.step(after=5)
    assert run.handle().signals == [] and run.proc().state == P.RUNNING


def test_crash_loop_ends_the_run_naming_the_count_and_the_window():
    run = Run(max_failures=3, failure_window=120)
    run.ready()
    for _ in range(2):
        run.exit(WORKER, 7)
        assert run.proc().state == P.BACKOFF
        run.step(after=30)  # the backoff passes; the restart is started
        assert run.proc().state == P.STARTING
        run.clock.now += 1  # it dies after 1 s, before reset_after
    run.exit(WORKER, 7)
    assert run.sup.outcome is not None and run.sup.outcome.exit_code == 1
    assert "worker-0 failed 3 times within 120 s (last exit code 7)" in run.sup.outcome.message
    written = run.end()
    assert written["state"] == "failed" and states(written)[WORKER] == "failed"


def test_stop_during_start_signals_everyone_and_nothing_respawns():
    run = Run()
    run.step(StopRequested(signal.SIGTERM))
    assert {p.state for p in run.sup.procs.values()} == {P.STOPPING}
    assert all(signal.SIGTERM in h.signals for h in run.sup.components.values())
    run.exit(WORKER, -signal.SIGTERM)
    run.step(after=60)  # far past any backoff: a stop never respawns
    assert run.handle().generation == 1
    assert signal.SIGKILL in run.handle("frontend").signals  # grace (5 s) over
    written = run.end()
    assert run.sup.outcome is None
    assert written["state"] == "stopped" and set(states(written).values()) == {"stopped"}


def test_a_second_stop_request_kills_at_once():
    run = Run()
    run.step(StopRequested(signal.SIGINT))
    run.step(StopRequested(signal.SIGINT))
    assert signal.SIGKILL in run.handle().signals
    assert "second interrupt" in run.out.getvalue()


def test_not_servable_in_time_names_who_is_not_up():
    run = Run()
    run.step(Registered(WORKER, False))
    run.step(after=601)
    assert run.sup.outcome is not None
    assert "not servable after 600 s (not up: worker-0)" in run.sup.outcome.message


def test_a_port_held_by_another_program_fails_the_start_in_one_sentence():
    run = Run()
    run.step(Usurped(WORKER, 23456, "another program (pid 99, nc)"))
    assert run.sup.outcome is not None and run.sup.outcome.exit_code == 2
    assert run.sup.outcome.message == (
        "worker-0's status port 23456 is held by another program (pid 99, nc), not by "
        "worker-0, so trtl cannot tell whether worker-0 is up; start again (trtl picks free "
        "ports at every start), or stop what holds it."
    )
    assert states(run.end())[WORKER] == "failed"


def test_the_lifecycle_refuses_moves_it_does_not_allow():
    assert move("w", P.BACKOFF, P.STARTING) == P.STARTING
    with pytest.raises(IllegalTransition, match="w: failed -> stopped"):
        move("w", P.FAILED, P.STOPPED)
    with pytest.raises(IllegalTransition, match="d: stopped -> ready"):
        move("d", D.STOPPED, D.READY)
    with pytest.raises(IllegalTransition):
        move("w", P.PENDING, P.RUNNING)
    # Plain strings from a state file are accepted as the current state, and sets and
    # dicts of states find them.
    assert move("d", "ready", D.DEGRADED) == D.DEGRADED
    assert "ready" in {D.READY} and {"running": 1}[P.RUNNING] == 1


def test_states_are_written_as_plain_strings():
    run = Run()
    written = json.loads((run.plan.run_dir.root / "state.json").read_text())
    assert written["state"] == "starting" and f"{run.sup.state.state}" == "starting"
    assert states(written) == {"frontend": "starting", WORKER: "starting"}
