"""The foreground run of ``trtl up``: claim the name, check, supervise, say how it ended.

``claim`` takes the deployment's lock before any check, so from its first moment a start
is visible to ``trtl down`` (and a second start of the name refuses, naming the live
holder). The foreground run then cleans up what a killed earlier run left, runs the
supervisor with a live table and reports how it ended. ``detached.py`` is the ``-d`` way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from trtl.launcher.deployments.lifecycle import DeploymentStatus
from trtl.launcher.deployments.lock import STARTER, SUPERVISOR, DeploymentLock
from trtl.launcher.deployments.set_aside import remove_set_aside
from trtl.launcher.deployments.state import DeploymentState, read_state
from trtl.launcher.planning.plan_types import Plan
from trtl.launcher.supervision.log_rotation import LogLimits
from trtl.launcher.supervision.logmux import LogMux
from trtl.profiles.errors import PreflightError, SupervisorError

if TYPE_CHECKING:
    from trtl.launcher.supervision.component import Component

# `trtl up -d` takes the deployment's lock before starting the background supervisor and
# hands the very lock down (an inherited descriptor), so of two `up -d` at the same
# instant exactly one starts anything, and the other refuses at once.
LOCK_FD_ENV = "TRTL_LOCK_FD"
MIN_FREE = 8 * 2**20  # bytes; below this the disk of the run directory counts as full


def claim(plan: Plan) -> DeploymentLock:
    """Take the deployment's name for this start; raises PreflightError if it is taken, or
    if the disk is too full to record who holds it, and SupervisorError if a `trtl down`
    begun after this start asked to stop it."""
    check_disk(plan)
    lock = DeploymentLock(plan.run_dir)
    if not lock.acquire(STARTER):
        _refuse_running(plan)
    # A `trtl down` sent before the lock was taken left a request (see stop_request).
    from trtl.launcher.deployments import stop_request

    down = stop_request.requester(plan.run_dir)
    if down is not None:
        stop_request.record_cancelled(plan.run_dir)
        lock.release()
        raise SupervisorError(
            f"the start of {plan.deployment!r} was cancelled by `trtl down` (pid {down}) "
            "before anything started."
        )
    return lock


def refuse_if_running(plan: Plan) -> None:
    """Refuse (PreflightError) when the deployment's name is taken, without taking it:
    for callers that check many plans before starting any (``trtl bench``)."""
    if DeploymentLock(plan.run_dir).held_elsewhere():
        _refuse_running(plan)


def _refuse_running(plan: Plan) -> None:
    """A second ``trtl up`` of a running deployment name refuses, naming who holds it (the
    lock's holder, alive: a state file may name a supervisor long dead)."""
    holder = DeploymentLock(plan.run_dir).holder()
    pid = ""
    if holder is not None and holder.alive:
        role = "supervisor" if holder.role == SUPERVISOR else "`trtl up`"
        pid = f" ({role} pid {holder.pid})"
    raise PreflightError(
        f"deployment {plan.deployment!r} is already running{pid}.",
        hint=f"Stop it with `trtl down {plan.deployment}`, or start another with --name.",
    )


def quiet_read(plan: Plan) -> DeploymentState | None:
    try:
        return read_state(plan.run_dir)
    except SupervisorError:
        return None


def preflight(plan: Plan, *, offline: bool) -> None:
    """Check ports, engine, model before anything starts; raises PreflightError."""
    from trtl.launcher.checks.preflight import run_preflight
    from trtl.launcher.planning.limits import check_graph_size

    check_disk(plan)
    check_graph_size(len(plan.processes), plan.profile.name)
    for text in run_preflight(plan, offline=offline, echo=note):
        note(text)


def note(text: str) -> None:
    from trtl.launcher.terminal import note_line

    note_line(text)


def run_foreground(
    plan: Plan,
    *,
    quiet: bool,
    timeout: float,
    grace: float,
    live: bool,
    offline: bool,
    verbose: bool = False,
    limits: LogLimits | None = None,
    on_checked: Callable[[], None] | None = None,
) -> int:
    """Claim, check and supervise in this process until stopped; return the exit code.
    ``on_checked`` runs once every check passed (``trtl up`` keeps the plan then)."""
    lock = claim(plan)
    try:
        preflight(plan, offline=offline)
        if on_checked is not None:
            on_checked()
        return supervise(
            plan, lock, quiet=quiet, timeout=timeout, grace=grace, live=live, verbose=verbose,
            limits=limits,
        )  # fmt: skip
    finally:
        lock.release()


def supervise(
    plan: Plan,
    lock: DeploymentLock,
    *,
    quiet: bool,
    timeout: float,
    grace: float,
    live: bool,
    verbose: bool = False,
    limits: LogLimits | None = None,
    started: dict | None = None,
    stops_before: list[int] | None = None,
) -> int:
    """Run the supervisor here, holding ``lock``; return the exit code. ``started``: the
    processes ``early_start`` spawned already (``Supervisor.adopt``); ``stops_before``: the
    list where the stop signals that arrived meanwhile are kept (``quiet_start.HeldStops``),
    read once the supervisor has taken the signal handlers over.

    Until ready the terminal shows the live table and only the processes' warnings and
    errors (everything with ``verbose``); after ready every line, unless ``quiet``."""
    from trtl.launcher.deployments.process_time import create_time_of
    from trtl.launcher.supervision.supervisor import Supervisor

    lock.mark_holder(SUPERVISOR)
    try:
        _stop_leftovers(plan)
        check_disk(plan)
        mux = LogMux([p.name for p in plan.processes], quiet=quiet, calm=not verbose)
        view = _LiveTable(mux) if live and mux.stream.isatty() else None

        def follow(component: Component) -> None:
            # Output goes to the terminal in batches from the reader threads; the supervisor
            # still scans the frontend's lines (for "Model materialization failed").
            mux.attach(component, line_events=component.plan.role == "frontend")
            component.limits = limits or LogLimits()

        def ready(state: DeploymentState) -> None:
            _ready(mux, view, plan, state, detached=not live)  # not live: `up -d`'s supervisor
            _tidy_later(plan)

        supervisor = Supervisor(
            plan,
            mux,
            timeout=timeout,
            grace=grace,
            on_ready=ready,
            on_change=view.update if view else None,
            on_spawn=follow,  # processes apply, scale and restart start, too
        )
        for component in supervisor.components.values():
            follow(component)
        # Every process starts before anything else trtl does: on a small machine, each
        # millisecond trtl spends first (or beside them) delays the graph.
        if stops_before is not None:
            supervisor.stops_before = stops_before
        if started:
            supervisor.adopt(started)
        else:
            supervisor.start_processes()
        mux.start()  # the terminal has its own thread: a slow one holds nobody up
        for text in short_notes(plan):
            mux.info(f"note: {text}")
        mux.info(f"starting {len(plan.processes)} processes of {plan.deployment!r}")
        if view:
            view.start(supervisor.state)
        try:
            outcome = supervisor.run(os.getpid(), create_time_of(os.getpid()))
        finally:
            if view:
                view.stop()
            mux.close()
        if supervisor.left:
            mux.info(f"warning: processes {supervisor.left} survived SIGKILL")
        elif outcome.exit_code == 0:
            mux.info(f"stopped all {len(plan.processes)} processes; nothing left running")
        else:
            mux.info("stopped every process; nothing left running")
        return outcome.exit_code
    finally:
        # Whatever ended it (a failed spawn too): what the tidy thread did not reach.
        remove_set_aside(str(plan.run_dir.root))
        lock.release()


def _tidy_later(plan: Plan) -> None:
    """Delete what starts set aside in the run dir (this one's: the last run's discovery
    and older logs; and what killed runs left) in a thread of the lowest priority, now
    that the graph serves. A daemon: what it has not reached when supervising ends,
    ``supervise`` deletes then."""
    import threading

    from trtl.launcher.supervision.yielding import yield_cpu

    def tidy() -> None:
        yield_cpu()
        remove_set_aside(str(plan.run_dir.root))

    threading.Thread(target=tidy, name="trtl-tidy", daemon=True).start()


def _stop_leftovers(plan: Plan) -> None:
    """Stop what a killed earlier run of this deployment left (its processes' groups)."""
    previous = quiet_read(plan)
    if previous is None or not _may_have_left(previous):
        return
    from trtl.launcher.deployments.leftovers import leftover_groups, stop_groups

    left = leftover_groups(previous)
    if left:
        stop_groups(left, grace=2.0)


def _may_have_left(previous: DeploymentState) -> bool:
    """Whether a run may have left processes: its supervisor never recorded its end, or one
    of its processes still runs. Cheap, so a clean earlier run costs no process scan."""
    if previous.state not in (DeploymentStatus.STOPPED, DeploymentStatus.FAILED):
        return True
    return any(proc.pid and os.path.exists(f"/proc/{proc.pid}") for proc in previous.processes)


def short_notes(plan: Plan) -> list[str]:
    """The plan's notes for the terminal, once per run: those about settings the engine
    cannot express (``workers.ROLE: …``, long lists) become one line; `trtl plan` has them all."""
    engine_notes = [note for note in plan.notes if note.startswith("workers.")]
    others = [note for note in plan.notes if not note.startswith("workers.")]
    if not engine_notes:
        return others
    roles = sorted({note.split(":", 1)[0].removeprefix("workers.") for note in engine_notes})
    return [
        *others,
        f"{plan.profile.engine} leaves out settings of {', '.join(roles)} it cannot express "
        "(`trtl plan` with the same arguments lists them)",
    ]


def check_disk(plan: Plan) -> None:
    """Refuse to start on a full disk, with the reason, not a failed write later."""
    from trtl.launcher.deployments.paths import state_home
    from trtl.launcher.supervision.log_rotation import MIB, free_bytes

    where = plan.run_dir.root if plan.run_dir.root.exists() else state_home()
    while not where.exists() and where != where.parent:
        where = where.parent
    with contextlib.suppress(OSError):
        if os.statvfs(where).f_flag & os.ST_RDONLY:  # before "full": such a disk has no room
            from trtl.launcher.deployments.state import unwritable_state

            raise unwritable_state(state_home(), "read-only file system")
    free = free_bytes(where)
    if free is not None and free < MIN_FREE:
        # Old logs a failed or killed start set aside may be what fills it: trtl's own.
        remove_set_aside(str(plan.run_dir.root))
        free = free_bytes(where)
    if free is not None and free < MIN_FREE:
        raise PreflightError(
            f"the disk holding {where} is full ({free / MIB:.1f} MiB free); "
            "trtl needs room for the deployment's state and logs.",
            hint="Free some space there, or set XDG_STATE_HOME to a directory on another disk.",
        )


def inherited_lock(plan: Plan) -> DeploymentLock:
    """The lock ``trtl up -d`` handed down to this background supervisor."""
    inherited = os.environ.pop(LOCK_FD_ENV, None)
    if inherited is None:
        raise SupervisorError("--supervise is trtl's own flag: use `trtl up -d` instead.")
    return DeploymentLock.adopt(plan.run_dir, int(inherited))


def _ready(
    mux: LogMux, view: _LiveTable | None, plan: Plan, state: DeploymentState, detached: bool
) -> None:
    if view:
        view.stop(final=True)
    mux.ready()
    mux.info(ready_banner(plan, state, detached=detached))


def ready_banner(plan: Plan, state: DeploymentState, detached: bool = False) -> str:
    model = plan.profile.served_name
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}
    )
    curl = shlex.join(
        [
            "curl", "-s", f"{plan.frontend_url}/v1/chat/completions",
            "-H", "Content-Type: application/json", "-d", body,
        ]
    )  # fmt: skip
    return "\n".join(
        [
            f"{plan.deployment} is ready after {state.ready_after:.2f} s: "
            f"{plan.frontend_url}/v1 serves {model!r}",
            f"try:  {curl}",
            f"or:   trtl chat --name {plan.deployment} 'Hello!'",
            f"logs: trtl logs {plan.deployment} -f     stop: "
            f"{'' if detached else 'Ctrl-C or '}trtl down {plan.deployment}",
        ]
    )


class _LiveTable:
    """The rich live process table, shown while the deployment starts."""

    def __init__(self, mux: LogMux):
        self.mux = mux
        self.live = None
        self.state: DeploymentState | None = None

    def start(self, state: DeploymentState) -> None:
        from rich.console import Console
        from rich.live import Live

        self.state = state
        console = Console(file=self.mux.stream, no_color=not self.mux.color)
        self.live = Live(
            get_renderable=self._render, console=console, refresh_per_second=4, transient=True
        )
        with self.mux.printing():  # the terminal thread prints through the table from now
            self.live.start()
            self.mux.live = self.live

    def _render(self):
        from trtl.launcher.deployments.status_view import process_table

        return process_table(self.state)

    def update(self, state: DeploymentState) -> None:
        self.state = state

    def stop(self, final: bool = False) -> None:
        if self.live is None:
            return
        live, self.live = self.live, None
        with self.mux.printing():
            self.mux.live = None
            live.stop()
            if final:
                live.console.print(self._render())
