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

from trtl.launcher.deployments.lifecycle import DeploymentStatus, ProcessStatus
from trtl.launcher.deployments.run_setup import (
    child_env,
    initial_state,
    prepare_run_dir,
    restart_policy,
)
from trtl.launcher.deployments.state import DeploymentState, write_state
from trtl.launcher.planning.plan_types import Plan
from trtl.launcher.supervision.component import Component, Exited, Line, wait_groups_empty
from trtl.launcher.supervision.control import ControlRequest, ControlServer
from trtl.launcher.supervision.live import LiveChanges
from trtl.launcher.supervision.live_surface import LiveSurface
from trtl.launcher.supervision.logmux import LogMux
from trtl.launcher.supervision.probe import ModelListed, Prober, Registered, Silent, Usurped
from trtl.launcher.supervision.restart import RestartTracker
from trtl.launcher.supervision.seams import ProberFactory, ProcessHandle, Spawner
from trtl.launcher.supervision.verdicts import (
    materialization_failed,
    not_ready,
    port_taken,
    usurped,
)

P, D = ProcessStatus, DeploymentStatus

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


class Supervisor(LiveSurface):
    """Runs one plan until stopped or beyond repair.

    Its collaborators are seams a test replaces (see ``seams.py``): ``clock`` (monotonic
    seconds), ``spawn`` (makes one process's handle, by default a real ``Component``) and
    ``prober`` (makes the health poller, by default a real ``Prober``). ``begin``, ``step``
    and ``finish`` are the loop's three parts, so a test replays an event script through
    the very decisions a real run takes. ``on_spawn`` is told of every process handle made
    after construction (by apply, scale or restart), so the terminal can follow it too.
    """

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
        spawn: Spawner = Component,
        prober: ProberFactory = Prober,
        on_spawn: Callable[[ProcessHandle], None] | None = None,
    ):
        self.plan = plan
        self.mux = mux
        self.timeout = timeout
        self.grace = grace
        self.on_ready = on_ready
        self.on_change = on_change
        self.clock = clock
        self.make_prober = prober
        self.make_process = spawn
        self.on_spawn = on_spawn
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        env = child_env(plan)
        self.components = {
            p.name: spawn(
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
        self.state = initial_state(plan)
        self.procs = {p.name: p for p in self.state.processes}
        self.restarts_due: dict[str, float] = {}
        self.silent_since: dict[str, float] = {}  # processes whose health check goes unanswered
        self.ever_up: set[str] = set()  # processes that came up at least once in this run
        self.hung: set[str] = set()  # killed as hung: their exit is a crash to restart
        self.listed = False
        self.started = 0.0
        self.stopping_since: float | None = None
        self.outcome: Outcome | None = None
        self.prober = None
        self.state_unwritten = False  # the last state write failed (a full disk)
        self.left: list[int] = []  # PIDs that survived the final SIGKILL (should stay empty)
        # apply/scale/restart through the control channel (live.py, live_surface.py)
        self.live = LiveChanges(self)
        self.control: ControlServer | None = None
        self._spawned = False
        # Stop signals that arrived before run() took the handlers over (a cached start's
        # quiet wait keeps them, quiet_start.HeldStops): run() acts on them first.
        self.stops_before: list[int] = []

    # -- the loop ---------------------------------------------------------------------

    def run(self, supervisor_pid: int, supervisor_create_time: float | None) -> Outcome:
        """Run until a stop request or an unrecoverable failure; always stops everything."""
        self.start_processes()
        previous = self._install_signals()
        for signum in self.stops_before:
            self.events.put(StopRequested(signum))
        try:
            self.begin(supervisor_pid, supervisor_create_time)
            self.control = ControlServer(self.plan.run_dir.root, self.events.put)
            self.control.start()
            while not self.finished:
                self.step(self._next_event())
        finally:
            self.finish()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.outcome or Outcome(0)

    def begin(self, supervisor_pid: int, supervisor_create_time: float | None) -> None:
        """Start every process (unless ``start_processes`` did) and the prober; write the
        first state."""
        if not self._spawned:
            self._spawn_all()
        self.state.started_at = time.time()
        self.state.supervisor_pid = supervisor_pid
        self.state.supervisor_create_time = supervisor_create_time
        for name in self.components:
            self._record_start(name)
        self.prober = self.make_prober(
            self.plan.frontend_url,
            self.plan.profile.served_name,
            {p.name: p.ports["system"] for p in self.plan.processes if "system" in p.ports},
            self.events.put,
            self._pid_of,
            discovery=str(self.plan.run_dir.discovery),
        )
        self.prober.start()
        self._changed()

    def step(self, event: object | None) -> None:
        """Take one event (None: only time passed), then act on what is due."""
        self._handle(event)
        self._timers()

    def finish(self) -> None:
        """Whatever ended the loop: answer a live change in progress, kill what is left,
        stop the prober, write the verdict."""
        if self.control:
            self.control.stop()
        self.live.abandon()
        try:
            self._kill_everything_left()
        finally:
            if self.prober:
                self.prober.stop()

    def _pid_of(self, name: str) -> int | None:
        """The PID of the process now running as ``name`` (for the prober's owner check)."""
        component = self.find(name)  # a live change's candidate too
        return component.pid if component else None

    def start_processes(self) -> None:
        """Prepare the run dir and spawn every process, before any other work (``run`` does
        it unless done before): on two cores, anything trtl does first delays them."""
        if self._spawned:
            return
        prepare_run_dir(self.plan)
        self._spawn_all()

    def adopt(self, started: dict[str, tuple[object, int, float]]) -> None:
        """Take over the processes ``early_start`` spawned (run dir prepared, every first
        start made), by name: (process, its log offset, monotonic time of the spawn)."""
        self._spawned = True
        self.started = min(at for _, _, at in started.values())
        try:
            for name, component in self.components.items():
                component.adopt(*started[name])  # type: ignore[attr-defined]  # a Component
            for component in self.components.values():
                component.watch()
        except BaseException:
            self._signal_all(signal.SIGKILL)
            raise

    def _spawn_all(self) -> None:
        self._spawned = True
        self.started = self.clock()
        try:
            for component in self.components.values():
                component.start(watch=False)  # every spawn first, then the threads
            for component in self.components.values():
                component.watch()
        except BaseException:
            self._signal_all(signal.SIGKILL)
            raise

    def _next_event(self) -> object | None:
        due = [*self.restarts_due.values()]
        if self.stopping_since is not None:
            due.append(self.stopping_since + self.grace)
        elif self.state.state == D.STARTING:
            due.append(self.started + self.timeout)
        wait = min(due) - self.clock() if due else 1.0
        try:
            return self.events.get(timeout=min(max(wait, 0.0), 1.0))
        except queue.Empty:
            return None

    @property
    def finished(self) -> bool:
        """True once stopping began and no process is alive any more."""
        return self.stopping_since is not None and not any(c.alive for c in self._everyone())

    def _handle(self, event: object | None) -> None:
        if self.live.claims(event):
            return
        if isinstance(event, ControlRequest):
            self.live.request(event)
        elif isinstance(event, Line):
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
        elif isinstance(event, Usurped):
            self._usurped(event)
        elif isinstance(event, StopRequested):
            self._stop_requested(event.signum)

    def _timers(self) -> None:
        now = self.clock()
        if self.state_unwritten:
            self._write()
        if self.stopping_since is not None:
            if now >= self.stopping_since + self.grace:
                self._signal_all(signal.SIGKILL)
            return
        self.live.tick(now)
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
        if self.state.state == D.STARTING and now - self.started >= self.timeout:
            self._not_ready_in_time()

    # -- processes ----------------------------------------------------------------------

    def _start(self, name: str) -> None:
        self.components[name].start()
        self._record_start(name)

    def _record_start(self, name: str) -> None:
        component = self.components[name]
        proc = self.procs[name]
        proc.pid, proc.create_time = component.pid, component.create_time
        proc.move(P.STARTING)
        proc.exit_code, proc.started_at = None, time.time()
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
            proc.end()
            self._changed()
            return
        if self.state.ready_after is None and event.name not in self.ever_up and not hung:
            proc.move(P.FAILED)
            code = event.returncode
            taken = port_taken(component.plan, self.plan.deployment)
            if taken:  # one line, not the 20 of its "Address already in use" traceback
                self._fail(taken, None, exit_code=2)
                return
            self._fail(
                f"{event.name} exited with code {code} before it was up; stopping the deployment.",
                event.name,
                # Its own code where it is one a shell can carry; signals and 0 become 1.
                exit_code=code if 0 < code < 126 else 1,
            )
            return
        decision = self.trackers[event.name].on_exit(self.clock(), component.started_at or 0.0)
        if not decision.restart:
            proc.move(P.FAILED)
            policy = self.trackers[event.name].policy
            self._fail(
                f"{event.name} failed {decision.failures_in_window} times within "
                f"{policy.failure_window:g} s (last exit code {event.returncode}); "
                "stopping the deployment.",
                event.name,
            )
            return
        proc.move(P.BACKOFF)
        self.restarts_due[event.name] = self.clock() + decision.delay
        self.mux.info(
            f"{event.name} exited with code {event.returncode}; restarting in {decision.delay:g} s"
        )
        self._changed()

    def _registered(self, event: Registered) -> None:
        proc = self.procs[event.name]
        if proc.state not in (P.STARTING, P.RUNNING):
            return
        if event.registered and proc.state == P.STARTING:
            started = self.components[event.name].started_at or self.clock()
            self.mux.info(f"{event.name} is up after {self.clock() - started:.2f} s")
            self.ever_up.add(event.name)
        proc.move(P.RUNNING if event.registered else P.STARTING)
        self._maybe_ready()

    def _model_listed(self, listed: bool) -> None:
        self.listed = listed
        frontend = self.procs.get("frontend")
        if frontend and frontend.state in (P.STARTING, P.RUNNING):
            if listed and frontend.state == P.STARTING and self.state.ready_after is not None:
                self.mux.info("frontend is up and lists the model again")
            frontend.move(P.RUNNING if listed else P.STARTING)
            if listed:
                self.ever_up.add("frontend")
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        """Ready = the frontend lists the model and every process reports itself healthy.
        Listing alone is not enough: a vLLM worker is listed before its first health check
        passes, and until then a disaggregated graph answers 503."""
        everyone = all(p.state == P.RUNNING for p in self.procs.values())
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
        self.mux.stopping()
        self.restarts_due.clear()
        for proc in self.procs.values():
            # A process that already ended (the one that failed) keeps its state.
            if proc.state in (P.STARTING, P.RUNNING):
                proc.move(P.STOPPING)
            else:
                proc.end()
        # Workers first, so they drain through a frontend that is still there.
        self._signal_all(signal.SIGTERM)
        self._changed()

    def _signal_all(self, sig: int) -> None:
        for component in reversed(self._everyone()):
            component.signal_group(sig)

    def _everyone(self) -> list[ProcessHandle]:
        """The deployment's processes, and candidates or retired ones of a live change."""
        return [*self.components.values(), *self.live.components()]

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
        if self.state.culprit is None:  # `trtl up -d` shows it from the state file
            self.state.culprit, self.state.culprit_tail = name, lines
        if not lines:
            self.mux.info(f"{name} printed nothing ({self.procs[name].log})")
            return
        self.mux.info(f"last {len(lines)} lines of {name} ({self.procs[name].log}):")
        for text in lines:
            self.mux.raw(f"    {text}")

    def _usurped(self, event: Usurped) -> None:
        """Another program answers on a port of ours: nothing it says is about our process,
        which could not bind it (Dynamo then runs on without its status server)."""
        if self.stopping:
            return
        self.procs[event.name].move(P.FAILED)
        self._fail(usurped(event), None, exit_code=2)

    def _materialization_failed(self, text: str) -> None:
        self._fail(materialization_failed(self.plan.profile.model, text), "frontend", exit_code=2)

    def _not_ready_in_time(self) -> None:
        waiting = [p.name for p in self.procs.values() if p.state != P.RUNNING]
        self._fail(not_ready(self.plan.profile.served_name, self.timeout, waiting), None)
        for name in waiting:
            self._show_tail(name)

    def _kill_everything_left(self) -> None:
        """Whatever ended the loop: no process of any tree may survive it."""
        self._signal_all(signal.SIGKILL)
        left = wait_groups_empty([c.pid for c in self._everyone() if c.pid], 5.0)
        for proc in self.procs.values():
            proc.end()
        self.left = left
        self.state.move(D.FAILED if self.outcome and self.outcome.exit_code else D.STOPPED)
        self._write()

    # -- state --------------------------------------------------------------------------

    def _changed(self) -> None:
        if self.stopping_since is None:
            all_running = all(p.state == P.RUNNING for p in self.procs.values())
            before = self.state.state
            if self.state.ready_after is not None:
                self.state.move(D.READY if self.listed and all_running else D.DEGRADED)
            if before == D.DEGRADED and self.state.state == D.READY:
                self.mux.info(f"{self.plan.deployment} is ready again")
        self._write()
        if self.on_change:
            self.on_change(self.state)

    def _write(self) -> None:
        try:
            write_state(self.plan.run_dir, self.state)
        except OSError as exc:
            # A full disk must not end supervision: the old state stays until one fits.
            if not self.state_unwritten:
                self.mux.info(f"warning: cannot write the state file ({exc.strerror}); retrying")
            self.state_unwritten = True
        else:
            self.state_unwritten = False

    def _install_signals(self) -> dict[int, object]:
        # Handlers only enqueue: the loop decides.
        return install_stop_handlers(lambda signum, _frame: self.events.put(StopRequested(signum)))


def install_stop_handlers(handler: Callable[[int, object], None]) -> dict[int, object]:
    """Route SIGINT, SIGTERM and SIGHUP to ``handler``; return the handlers it replaced."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)
    return previous
