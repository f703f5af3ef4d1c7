"""The supervisor: start every process of a plan at once, know when it is servable, keep it so.

One loop owns all decisions; threads only report through one queue (lines, exits, probe
results, stop requests from signal handlers). Policy lives apart: ``restart.py`` decides
restarts, ``probe.py`` readiness and liveness, ``component.py`` spawning and signalling.
Any exit is a failure. Before the deployment was first ready, a process that exits without
ever having come up ends the run at once with its own exit code and last lines: that is a
configuration error, and restarting it would only repeat it (and, for an engine that loads
for minutes, hide it). A process that leaves its health endpoint unanswered for
``hang_timeout`` seconds is stopped or wedged: it is killed and restarted like a crash.
Nothing respawns once stopping has begun; stopping is SIGTERM to every process group, a
grace period, then SIGKILL, and a check that nothing of the trees is left.
"""

from __future__ import annotations

import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from launcher.deployments.run_setup import child_env, prepare_run_dir, restart_policy
from launcher.deployments.state import DeploymentState, ProcessState, write_state
from launcher.planning.plan_types import Plan
from launcher.supervision.component import Component, Exited, Line, wait_groups_empty
from launcher.supervision.logmux import LogMux
from launcher.supervision.probe import ModelListed, Prober, Registered, Silent
from launcher.supervision.restart import RestartTracker

MATERIALIZATION_FAILED = "Model materialization failed"
FAILURE_TAIL = 20


@dataclass(frozen=True)
class StopRequested:
    """Ctrl-C, SIGTERM or SIGHUP arrived (from a signal handler)."""

    signum: int


@dataclass(frozen=True)
class Outcome:
    """How the run ended: the exit code and what to tell the user."""

    exit_code: int
    message: str | None = None


class Supervisor:
    """Runs one plan until stopped or beyond repair."""

    def __init__(
        self,
        plan: Plan,
        mux: LogMux,
        *,
        timeout: float,
        grace: float,
        on_ready: Callable[[DeploymentState], None] | None = None,
        on_change: Callable[[DeploymentState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.plan = plan
        self.mux = mux
        self.timeout = timeout
        self.grace = grace
        self.on_ready = on_ready
        self.on_change = on_change
        self.clock = clock
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        env = child_env(plan)
        self.components = {
            p.name: Component(
                p,
                plan.run_dir.logs / f"{p.name}.log",
                self.events.put,
                env[p.name],
                forward_lines=not mux.quiet or p.role == "frontend",
            )
            for p in plan.processes
        }
        self.trackers = {
            p.name: RestartTracker(restart_policy(plan.profile, p)) for p in plan.processes
        }
        self.procs = {
            p.name: ProcessState(
                name=p.name,
                role=p.role,
                mode=p.mode,
                gpus=p.gpus,
                ports=p.ports,
                log=str(plan.run_dir.logs / f"{p.name}.log"),
            )
            for p in plan.processes
        }
        self.state = DeploymentState(
            deployment=plan.deployment,
            state="starting",
            frontend_url=plan.frontend_url,
            run_dir=str(plan.run_dir.root),
            profile=plan.profile.name,
            engine=plan.profile.engine,
            model=plan.profile.model,
            served_model_name=plan.profile.served_name,
            processes=list(self.procs.values()),
        )
        self.restarts_due: dict[str, float] = {}
        self.silent_since: dict[str, float] = {}  # processes whose health check goes unanswered
        self.ever_up: set[str] = set()  # processes that came up at least once in this run
        self.hung: set[str] = set()  # killed as hung: their exit is a crash to restart
        self.listed = False
        self.started = 0.0
        self.stopping_since: float | None = None
        self.outcome: Outcome | None = None
        self.prober: Prober | None = None
        self.left: list[int] = []  # PIDs that survived the final SIGKILL (should stay empty)
        self._spawned = False

    # -- the loop ---------------------------------------------------------------------

    def run(self, supervisor_pid: int, supervisor_create_time: float | None) -> Outcome:
        """Run until a stop request or an unrecoverable failure; always stops everything."""
        self.start_processes()
        self.state.started_at = time.time()
        self.state.supervisor_pid = supervisor_pid
        self.state.supervisor_create_time = supervisor_create_time
        previous = self._install_signals()
        try:
            self.prober = Prober(
                self.plan.frontend_url,
                self.plan.profile.served_name,
                {p.name: p.ports["system"] for p in self.plan.processes if "system" in p.ports},
                self.events.put,
                discovery=str(self.plan.run_dir.discovery),
            )
            self.prober.start()
            self._changed()
            while not self._finished():
                self._handle(self._next_event())
                self._timers()
        finally:
            self._kill_everything_left()
            if self.prober:
                self.prober.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.outcome or Outcome(0)

    def start_processes(self) -> None:
        """Prepare the run dir and spawn every process, before any other work (``run`` does
        it unless done before): on two cores, anything trtl does first delays them."""
        if self._spawned:
            return
        self._spawned = True
        prepare_run_dir(self.plan)
        self.started = self.clock()
        try:
            for component in self.components.values():
                component.start(watch=False)  # every spawn first, then the threads
            for component in self.components.values():
                component.watch()
        except BaseException:
            self._signal_all(signal.SIGKILL)
            raise
        for name in self.components:
            self._record_start(name)

    def _next_event(self) -> object | None:
        due = [*self.restarts_due.values()]
        if self.stopping_since is not None:
            due.append(self.stopping_since + self.grace)
        elif self.state.state == "starting":
            due.append(self.started + self.timeout)
        wait = min(due) - self.clock() if due else 1.0
        try:
            return self.events.get(timeout=min(max(wait, 0.0), 1.0))
        except queue.Empty:
            return None

    def _finished(self) -> bool:
        return self.stopping_since is not None and not any(
            c.alive for c in self.components.values()
        )

    def _handle(self, event: object | None) -> None:
        if isinstance(event, Line):
            self.mux.line(event.name, event.text)
            if event.name == "frontend" and MATERIALIZATION_FAILED in event.text:
                self._materialization_failed(event.text)
        elif isinstance(event, Exited):
            self._exited(event)
        elif isinstance(event, ModelListed):
            self._model_listed(event.listed)
        elif isinstance(event, Registered):
            self._registered(event)
        elif isinstance(event, Silent):
            self._silent(event)
        elif isinstance(event, StopRequested):
            self._stop_requested(event.signum)

    def _timers(self) -> None:
        now = self.clock()
        if self.stopping_since is not None:
            if now >= self.stopping_since + self.grace:
                self._signal_all(signal.SIGKILL)
            return
        for name, due in list(self.restarts_due.items()):
            if now >= due:
                del self.restarts_due[name]
                self._start(name)
                self.procs[name].restarts += 1
                self._changed()
        for name, since in list(self.silent_since.items()):
            limit = self.trackers[name].policy.hang_timeout
            if limit and now - since >= limit:
                self._hung(name, now - since)
        if self.state.state == "starting" and now - self.started >= self.timeout:
            self._not_ready_in_time()

    # -- processes ----------------------------------------------------------------------

    def _start(self, name: str) -> None:
        self.components[name].start()
        self._record_start(name)

    def _record_start(self, name: str) -> None:
        component = self.components[name]
        proc = self.procs[name]
        proc.pid, proc.create_time = component.pid, component.create_time
        proc.state, proc.exit_code, proc.started_at = "starting", None, time.time()
        self.silent_since.pop(name, None)
        if self.prober:
            self.prober.forget(name)

    def _exited(self, event: Exited) -> None:
        component = self.components[event.name]
        if event.generation != component.generation:
            return
        proc = self.procs[event.name]
        proc.exit_code = event.returncode
        self.silent_since.pop(event.name, None)
        # trtl killed it for hanging: restarted like a crash, also before it was ever up
        # (its exit code is trtl's SIGKILL, not a configuration error of its own).
        hung = event.name in self.hung
        self.hung.discard(event.name)
        # What its tree left (vLLM's EngineCore, workers, resource tracker) would otherwise
        # live on beside the restarted process, busy-polling a core.
        component.signal_group(signal.SIGKILL)
        if self.stopping_since is not None:
            proc.state = "stopped"
            self._changed()
            return
        if self.state.ready_after is None and event.name not in self.ever_up and not hung:
            proc.state = "failed"
            code = event.returncode
            self._fail(
                f"{event.name} exited with code {code} before it was up; stopping the deployment.",
                event.name,
                # Its own code where it is one a shell can carry; signals and 0 become 1.
                exit_code=code if 0 < code < 126 else 1,
            )
            return
        decision = self.trackers[event.name].on_exit(self.clock(), component.started_at or 0.0)
        if not decision.restart:
            proc.state = "failed"
            policy = self.trackers[event.name].policy
            self._fail(
                f"{event.name} failed {decision.failures_in_window} times within "
                f"{policy.failure_window:g} s (last exit code {event.returncode}); "
                "stopping the deployment.",
                event.name,
            )
            return
        proc.state = "backoff"
        self.restarts_due[event.name] = self.clock() + decision.delay
        self.mux.info(
            f"{event.name} exited with code {event.returncode}; restarting in {decision.delay:g} s"
        )
        self._changed()

    def _registered(self, event: Registered) -> None:
        proc = self.procs[event.name]
        if proc.state not in ("starting", "running"):
            return
        if event.registered and proc.state == "starting":
            started = self.components[event.name].started_at or self.clock()
            self.mux.info(f"{event.name} is up after {self.clock() - started:.2f} s")
            self.ever_up.add(event.name)
        proc.state = "running" if event.registered else "starting"
        self._maybe_ready()

    def _model_listed(self, listed: bool) -> None:
        self.listed = listed
        frontend = self.procs.get("frontend")
        if frontend and frontend.state in ("starting", "running"):
            if listed and frontend.state == "starting" and self.state.ready_after is not None:
                self.mux.info("frontend is up and lists the model again")
            frontend.state = "running" if listed else "starting"
            if listed:
                self.ever_up.add("frontend")
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        """Ready = the frontend lists the model and every process reports itself healthy.
        Listing alone is not enough: a vLLM worker is listed before its first health check
        passes, and until then a disaggregated graph answers 503."""
        everyone = all(p.state == "running" for p in self.procs.values())
        if self.listed and everyone and self.state.ready_after is None and not self.stopping:
            self.state.ready_after = round(self.clock() - self.started, 3)
            self._changed()
            if self.on_ready:
                self.on_ready(self.state)
            return
        self._changed()

    @property
    def stopping(self) -> bool:
        return self.stopping_since is not None

    def _silent(self, event: Silent) -> None:
        if not event.silent:
            self.silent_since.pop(event.name, None)
        elif self.stopping_since is None and self.components[event.name].alive:
            self.silent_since.setdefault(event.name, self.clock())

    def _hung(self, name: str, seconds: float) -> None:
        del self.silent_since[name]
        self.hung.add(name)
        what = "/v1/models" if name == "frontend" else "its status server's /health"
        self.mux.info(
            f"{name} has not answered {what} for {seconds:.0f} s (stopped or hung); "
            "killing it to restart it"
        )
        # SIGKILL, not SIGTERM: a stopped process never handles SIGTERM, a wedged one may not.
        self.components[name].signal_group(signal.SIGKILL)

    # -- ending -------------------------------------------------------------------------

    def _stop_requested(self, signum: int) -> None:
        if self.stopping_since is not None:
            self.mux.info("second interrupt: killing every process now")
            self._signal_all(signal.SIGKILL)
            return
        name = signal.Signals(signum).name
        again = "; press Ctrl-C again to kill" if signum == signal.SIGINT else ""
        self.mux.info(f"{name}: stopping (grace {self.grace:g} s{again})")
        self._begin_stop()

    def _begin_stop(self) -> None:
        self.stopping_since = self.clock()
        self.restarts_due.clear()
        for proc in self.procs.values():
            proc.state = "stopping" if proc.state in ("starting", "running") else "stopped"
        # Workers first, so they drain through a frontend that is still there.
        self._signal_all(signal.SIGTERM)
        self._changed()

    def _signal_all(self, sig: int) -> None:
        for component in reversed(list(self.components.values())):
            component.signal_group(sig)

    def _fail(self, message: str, culprit: str | None, exit_code: int = 1) -> None:
        if self.outcome is None:
            self.outcome = Outcome(exit_code, message)
            self.state.message = message
            self.mux.info(f"error: {message}")
            if culprit:
                self._show_tail(culprit)
        if self.stopping_since is None:
            self._begin_stop()

    def _show_tail(self, name: str) -> None:
        lines = list(self.components[name].tail)[-FAILURE_TAIL:]
        if not lines:
            self.mux.info(f"{name} printed nothing ({self.procs[name].log})")
            return
        self.mux.info(f"last {len(lines)} lines of {name} ({self.procs[name].log}):")
        for text in lines:
            self.mux.raw(f"    {text}")

    def _materialization_failed(self, text: str) -> None:
        cause = text.rsplit('error="', 1)[1].rstrip('"') if 'error="' in text else "no cause given"
        self._fail(
            f"the frontend cannot load model {self.plan.profile.model!r} "
            f"(Model materialization failed: {cause}): its tokenizer or chat template is "
            "missing or unreadable; give a model directory with tokenizer.json and a "
            "chat_template.",
            "frontend",
            exit_code=2,
        )

    def _not_ready_in_time(self) -> None:
        waiting = [p.name for p in self.procs.values() if p.state != "running"]
        workers = [n for n in waiting if n != "frontend"]
        why = (
            f"not up: {', '.join(workers)}"
            if workers
            else "every worker is up, but the frontend does not list the model"
        )
        self._fail(
            f"{self.plan.profile.served_name!r} was not servable after {self.timeout:g} s "
            f"({why}); raise --timeout if the engines need longer.",
            None,
        )
        for name in waiting:
            self._show_tail(name)

    def _kill_everything_left(self) -> None:
        """Whatever ended the loop: no process of any tree may survive it."""
        self._signal_all(signal.SIGKILL)
        left = wait_groups_empty([c.pid for c in self.components.values() if c.pid], 5.0)
        for proc in self.procs.values():
            if proc.state != "failed":
                proc.state = "stopped"
        self.left = left
        self.state.state = "failed" if self.outcome and self.outcome.exit_code else "stopped"
        self._write()

    # -- state --------------------------------------------------------------------------

    def _changed(self) -> None:
        if self.stopping_since is None:
            all_running = all(p.state == "running" for p in self.procs.values())
            before = self.state.state
            if self.state.ready_after is None:
                self.state.state = "starting"
            else:
                self.state.state = "ready" if self.listed and all_running else "degraded"
            if before == "degraded" and self.state.state == "ready":
                self.mux.info(f"{self.plan.deployment} is ready again")
        self._write()
        if self.on_change:
            self.on_change(self.state)

    def _write(self) -> None:
        write_state(self.plan.run_dir, self.state)

    def _install_signals(self) -> dict[int, object]:
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.getsignal(signum)
            # Handlers only enqueue: the loop decides.
            signal.signal(signum, lambda s, _f: self.events.put(StopRequested(s)))
        return previous
