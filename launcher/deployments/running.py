"""The ways ``trtl up`` runs a plan: in the foreground with a live table, or detached.

The foreground run owns the deployment's lock, cleans up what a killed earlier run left,
runs the supervisor and reports how it ended. ``-d`` starts the same command as a
background supervisor (its own session, output in ``<run dir>/supervisor.log``) and
returns once the state file says ready, or with the reason it failed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from launcher.deployments.state import DeploymentLock, DeploymentState, open_private_log, read_state
from launcher.planning.plan_types import Plan
from launcher.supervision.logmux import LogMux
from profiles.errors import PreflightError, SupervisorError

SUPERVISOR_LOG = "supervisor.log"
OVERRIDES_ENV = "TRTL_OVERRIDES"
# `trtl up -d` takes the deployment's lock before starting the background supervisor and
# hands the very lock down (an inherited descriptor), so of two `up -d` at the same
# instant exactly one starts anything, and the other refuses at once.
LOCK_FD_ENV = "TRTL_LOCK_FD"


def refuse_if_running(plan: Plan) -> None:
    """A second ``trtl up`` of a running deployment name refuses, naming it."""
    if DeploymentLock(plan.run_dir).held_elsewhere():
        _refuse_running(plan)


def _refuse_running(plan: Plan) -> None:
    state = _quiet_read(plan)
    pid = f" (supervisor pid {state.supervisor_pid})" if state and state.supervisor_pid else ""
    raise PreflightError(
        f"deployment {plan.deployment!r} is already running{pid}.",
        hint=f"Stop it with `trtl down {plan.deployment}`, or start another with --name.",
    )


def _quiet_read(plan: Plan) -> DeploymentState | None:
    try:
        return read_state(plan.run_dir)
    except SupervisorError:
        return None


def preflight(plan: Plan, *, offline: bool) -> None:
    """Check ports, engine, model before anything starts; raises PreflightError."""
    from launcher.checks.preflight import run_preflight

    for note in run_preflight(plan, offline=offline, echo=_note):
        _note(note)


def _note(text: str) -> None:
    from launcher.terminal import note_line

    note_line(text)


def run_foreground(
    plan: Plan,
    *,
    quiet: bool,
    timeout: float,
    grace: float,
    live: bool,
    lock: DeploymentLock | None = None,
) -> int:
    """Supervise in this process until stopped; return the exit code. ``lock``: the
    deployment's lock, already taken (the cached-plan start takes it first)."""
    from launcher.deployments.process_time import create_time_of
    from launcher.supervision.supervisor import Supervisor

    lock = lock or _claim(plan)
    try:
        _stop_leftovers(plan)
        mux = LogMux([p.name for p in plan.processes], quiet=quiet)
        view = _LiveTable(mux) if live and mux.stream.isatty() else None
        supervisor = Supervisor(
            plan,
            mux,
            timeout=timeout,
            grace=grace,
            on_ready=lambda state: _ready(mux, view, plan, state),
            on_change=view.update if view else None,
        )
        # Every process starts before anything else trtl does: on a small machine, each
        # millisecond trtl spends first (or beside them) delays the graph.
        supervisor.start_processes()
        for component in supervisor.components.values():
            # Output goes to the terminal in batches from the reader threads; the supervisor
            # still scans the frontend's lines (for "Model materialization failed").
            mux.attach(component, line_events=component.plan.role == "frontend")
        mux.start()  # the terminal has its own thread: a slow one holds nobody up
        for note in plan.notes:
            mux.info(f"note: {note}")
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
        lock.release()


def _stop_leftovers(plan: Plan) -> None:
    """Stop what a killed earlier run of this deployment left (its processes' groups)."""
    previous = _quiet_read(plan)
    if previous is None or not _may_have_left(previous):
        return
    from launcher.deployments.leftovers import leftover_groups, stop_groups

    left = leftover_groups(previous)
    if left:
        stop_groups(left, grace=2.0)


def _may_have_left(previous: DeploymentState) -> bool:
    """Whether a run may have left processes: its supervisor never recorded its end, or one
    of its processes still runs. Cheap, so a clean earlier run costs no process scan."""
    if previous.state not in ("stopped", "failed"):
        return True
    return any(proc.pid and os.path.exists(f"/proc/{proc.pid}") for proc in previous.processes)


def _claim(plan: Plan) -> DeploymentLock:
    inherited = os.environ.pop(LOCK_FD_ENV, None)
    if inherited is not None:
        return DeploymentLock.adopt(plan.run_dir, int(inherited))
    lock = DeploymentLock(plan.run_dir)
    if not lock.acquire():
        _refuse_running(plan)
    return lock


def _ready(mux: LogMux, view: _LiveTable | None, plan: Plan, state: DeploymentState) -> None:
    if view:
        view.stop(final=True)
    mux.info(ready_banner(plan, state))


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
        from launcher.deployments.status_view import process_table

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


def detached_args(
    profile_ref: str,
    plan: Plan,
    engine: str | None,
    model: str | None,
    overrides: tuple[str, ...],
    gpus: str | None,
    python: str | None,
    timeout: float,
    grace: float,
    offline: bool,
) -> list[str]:
    """The ``trtl up`` command line the background supervisor runs: the same choices."""
    ref = str(Path(profile_ref).resolve()) if Path(profile_ref).is_file() else profile_ref
    args = ["up", ref, "--supervise", "--name", plan.deployment]
    args += ["--port", str(int(plan.frontend_url.rsplit(":", 1)[1])), "--host", plan.http_host]
    args += ["--timeout", str(timeout), "--grace", str(grace)]
    for flag, value in (("--engine", engine), ("--model", model), ("--gpus", gpus)):
        if value:
            args += [flag, value]
    if python:
        args += ["--python", python]
    # --set values may hold secrets: they travel in the environment (private to the user),
    # never in the argv that every local user can read in /proc/PID/cmdline.
    if offline:
        args.append("--offline")
    return args


def overrides_from_env() -> tuple[str, ...]:
    """The detached supervisor's --set values (see ``detached_args``); not passed further."""
    return tuple(json.loads(os.environ.pop(OVERRIDES_ENV, "[]")))


def start_detached(
    plan: Plan, args: list[str], timeout: float, overrides: tuple[str, ...] = ()
) -> int:
    """Start the background supervisor; wait until ready or failed. Returns the exit code."""
    lock = DeploymentLock(plan.run_dir)
    if not lock.acquire():
        _refuse_running(plan)
    log_path = plan.run_dir.root / SUPERVISOR_LOG
    started = time.time()
    try:
        with open_private_log(log_path, append=False) as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "launcher", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(lock.fd,),
                env={
                    **os.environ,
                    LOCK_FD_ENV: str(lock.fd),
                    OVERRIDES_ENV: json.dumps(list(overrides)),
                },
            )
    finally:
        lock.release()  # the child holds it now
    _note(f"supervisor started in the background (pid {child.pid}); log: {log_path}")
    while True:
        code = child.poll()
        state = _quiet_read(plan)
        fresh = state is not None and state.supervisor_pid == child.pid
        if fresh and state.state in ("ready", "degraded"):
            import click

            click.echo(ready_banner(plan, state, detached=True))
            return 0
        if code == 0:
            raise SupervisorError(
                f"{plan.deployment!r} was stopped (`trtl down`?) before the model was servable."
            )
        if code is not None:
            raise SupervisorError(
                f"the background supervisor of {plan.deployment!r} ended with exit code {code}: "
                f"{_last_error(log_path)}",
                hint=_failure_tail(log_path)
                + f"Its output is in {log_path}; `trtl logs {plan.deployment}` shows "
                "the processes' logs.",
                exit_code=code or 1,
            )
        if time.time() - started > timeout + 60:
            raise SupervisorError(f"{plan.deployment!r} did not become ready in time.")
        time.sleep(0.02)


def _failure_tail(log_path: Path) -> str:
    """The failing process's last lines, as the supervisor printed them, to show with -d."""
    lines = log_path.read_text(errors="replace").splitlines()
    heads = [i for i, line in enumerate(lines) if " lines of " in line and "last " in line]
    if not heads:
        return ""
    shown = [lines[heads[-1]].split("| ", 1)[-1]]
    shown += [line for line in lines[heads[-1] + 1 :] if line.startswith("    ")]
    return "\n".join(shown) + "\n"


def _last_error(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    # trtl's own verdict first ("trtl | error: …" or a TrtlError line), then anything.
    own = [line for line in lines if line.startswith(("trtl ", "error:")) and "error:" in line]
    errors = [line.split("error:", 1)[1].strip() for line in own or lines if "error:" in line]
    return errors[-1] if errors else (lines[-1].strip() if lines else "no output")
