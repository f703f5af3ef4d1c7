"""``trtl up -d``: start the supervisor in the background, return once it is servable.

The start claims the deployment's name first (its lock), runs the checks, then starts
the same command as a background supervisor (its own session, output in
``<run dir>/supervisor.log``) and hands it the lock. It returns once the state file says
ready, or with the reason the supervisor wrote there. Ctrl-C, SIGTERM (what ``trtl down``
sends to whoever holds the lock) and SIGHUP stop the start at any point: before the
supervisor runs, nothing is started; after, the supervisor is asked to stop, and the
command returns once nothing of it runs. A second Ctrl-C makes the supervisor kill at once.

A start with an owner (``trtl.up`` from Python) hands the supervisor the owner's pid and
start time: the supervisor stops the graph once that process is gone (``watch_owner``),
however it ended. ``trtl up -d`` has no owner: its graph outlives the shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from trtl.launcher.deployments import stop_request
from trtl.launcher.deployments.lifecycle import SERVABLE
from trtl.launcher.deployments.run_setup import SUPERVISOR_LOG, keep_supervisor_log
from trtl.launcher.deployments.running import (
    LOCK_FD_ENV,
    claim,
    note,
    preflight,
    quiet_read,
    ready_banner,
)
from trtl.launcher.deployments.state import DeploymentState, open_private_log
from trtl.launcher.planning.plan import Plan
from trtl.launcher.supervision.log_rotation import LogLimits
from trtl.profiles.errors import SupervisorError, TrtlError

OVERRIDES_ENV = "TRTL_OVERRIDES"
OWNER_ENV = "TRTL_OWNER"  # "PID CREATE_TIME" of the process whose end stops the graph
OWNER_CHECK_S = 1.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StartStopped(SupervisorError):
    """A stop signal ended the start (the CLI exits 128 + ``signum``)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message, exit_code=128 + signum)
        self.signum = signum


class StopRequests:
    """Signals that ask to stop the start: the handler only counts them (the loop acts).

    Only the main thread can take signals over; a start from another thread (the library
    called from a worker thread) leaves them as they are, and relies on its owner tie."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # ignored when trtl started (`nohup`'s SIGHUP): it stays ignored
            self._previous[signum] = signal.signal(signum, self._count)
        return self

    def _count(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            # None: a handler set outside Python, which cannot be put back; the default is
            # the nearest.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]


def start_detached(
    plan: Plan,
    args: list[str],
    *,
    timeout: float,
    overrides: tuple[str, ...] = (),
    offline: bool = False,
    announce: bool = True,
    owned: bool = False,
    on_spawned: Callable[[], None] | None = None,
) -> int:
    """Claim, check, start the background supervisor; wait until ready or failed.

    ``announce`` prints where the supervisor logs, the ready banner and how a stop signal
    is handled (the CLI does; the library API stays silent). ``owned`` ties the supervisor
    to this process: it stops the graph once this process is gone. ``on_spawned`` is
    called once the supervisor runs: before, a failure (the name taken by another start, a
    check) started nothing, and the caller must not stop the deployment of that name.
    Returns the exit code; raises TrtlError with the reason it failed (StartStopped for a
    stop signal)."""
    with StopRequests() as stops:
        lock = claim(plan)
        try:
            preflight(plan, offline=offline)
            if stops.signals:
                raise _cancelled(plan, stops.signals[0], started=False)
            child = _spawn(plan, args, lock.fd, overrides, owned)
            if on_spawned is not None:
                on_spawned()  # from here the graph is this start's to stop
        finally:
            lock.release()  # the child holds it now (or nobody, if it was never started)
        if announce:
            note(
                f"supervisor started in the background (pid {child.pid}); "
                f"log: {plan.run_dir.root / SUPERVISOR_LOG}"
            )
        return _wait(plan, child, stops, timeout, announce)


def _spawn(
    plan: Plan, args: list[str], lock_fd: int | None, overrides: tuple[str, ...], owned: bool
) -> subprocess.Popen[bytes]:
    assert lock_fd is not None
    keep_supervisor_log(plan.run_dir)  # the last run's, for `trtl logs --previous`
    env = {**os.environ, LOCK_FD_ENV: str(lock_fd), OVERRIDES_ENV: json.dumps(list(overrides))}
    env.pop(OWNER_ENV, None)  # only an owned start ties its supervisor, never an inherited mark
    mark = _owner_mark() if owned else None
    if mark is not None:
        env[OWNER_ENV] = mark
    with open_private_log(plan.run_dir.root / SUPERVISOR_LOG, append=False) as log:
        return subprocess.Popen(
            [sys.executable, "-m", "trtl.launcher", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(lock_fd,),
            env=env,
        )


def _owner_mark() -> str | None:
    """This process, as ``watch_owner`` recognises it: a pid alone could be reused. None
    where its start time cannot be read (no /proc): then no tie, rather than a supervisor
    that takes its owner for gone at once."""
    from trtl.launcher.deployments.process_time import create_time_of

    started = create_time_of(os.getpid())
    return None if started is None else f"{os.getpid()} {started!r}"


def watch_owner() -> None:
    """In the background supervisor: stop the graph (SIGTERM to itself, as `trtl down`
    does) once the process that started it with ``owned`` is gone, however it ended.
    A supervisor without an owner (``trtl up -d``) runs until stopped."""
    mark = os.environ.pop(OWNER_ENV, None)
    if mark:
        pid, create_time = mark.split(" ", 1)
        args = (int(pid), float(create_time))
        threading.Thread(target=_stop_without, args=args, name="trtl-owner", daemon=True).start()


def _stop_without(pid: int, create_time: float) -> None:
    from trtl.launcher.deployments.state import is_same_process

    # Asleep first: the graph starts now, and the check's psutil import would slow it.
    time.sleep(OWNER_CHECK_S)
    while is_same_process(pid, create_time):  # a zombie counts as gone
        time.sleep(OWNER_CHECK_S)
    note(f"the process that started this deployment (pid {pid}) is gone: stopping it")
    os.kill(os.getpid(), signal.SIGTERM)


def _wait(
    plan: Plan,
    child: subprocess.Popen[bytes],
    stops: StopRequests,
    timeout: float,
    announce: bool = True,
) -> int:
    started = time.monotonic()
    log_path = plan.run_dir.root / SUPERVISOR_LOG
    while True:
        if stops.signals:
            return _stop_start(plan, child, stops, announce)
        code = child.poll()
        state = quiet_read(plan)
        fresh = state if state is not None and state.supervisor_pid == child.pid else None
        if fresh is not None and fresh.state in SERVABLE:
            if stops.signals:  # one came while this pass read the state: it still counts
                return _stop_start(plan, child, stops, announce)
            if announce:
                click.echo(ready_banner(plan, fresh, detached=True))
            return 0
        if code is not None:
            raise _start_failed(plan, code, fresh, log_path)
        if time.monotonic() - started > timeout + 60:
            raise SupervisorError(f"{plan.deployment!r} did not become ready in time.")
        time.sleep(0.02)


def _stop_start(
    plan: Plan, child: subprocess.Popen[bytes], stops: StopRequests, announce: bool
) -> int:
    """Pass the stop on to the supervisor (each further signal again: the second makes it
    kill at once), wait until it ended, and say so."""
    name = signal.Signals(stops.signals[0]).name
    again = "; press Ctrl-C again to kill at once" if stops.signals[0] == signal.SIGINT else ""
    down = stop_request.requester(plan.run_dir) if stops.signals[0] == signal.SIGTERM else None
    if down is not None:
        name = f"`trtl down` (pid {down})"
    if announce:
        note(
            f"{name}: stopping the start of {plan.deployment!r} (supervisor pid {child.pid}){again}"
        )
    passed = 0
    while child.poll() is None:
        for _ in range(len(stops.signals) - passed):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
            passed += 1
        time.sleep(0.05)
    raise _cancelled(plan, stops.signals[0], started=True)


def _cancelled(plan: Plan, signum: int, *, started: bool) -> SupervisorError:
    what = "stopped; nothing of it runs" if started else "cancelled before anything started"
    down = stop_request.requester(plan.run_dir) if signum == signal.SIGTERM else None
    if down is not None:  # the SIGTERM was `trtl down`'s (it left a request): say so
        what = what.replace("; ", f" by `trtl down` (pid {down}); ", 1)
        if not started:
            what = f"cancelled by `trtl down` (pid {down}) before anything started"
        return SupervisorError(f"the start of {plan.deployment!r} was {what}.")
    name = signal.Signals(signum).name
    return StartStopped(f"{name}: the start of {plan.deployment!r} was {what}.", signum)


def detached_args(
    profile_ref: object,
    plan: Plan,
    engine: str | None,
    model: str | None,
    overrides: tuple[str, ...],
    gpus: str | None,
    python: str | None,
    timeout: float,
    grace: float,
    offline: bool,
    limits: LogLimits | None = None,
    share_gpus: bool = False,
) -> list[str]:
    """The ``trtl up`` command line the background supervisor runs: the same choices.
    ``profile_ref`` is what the caller gave (a name or path, or a profile built in code)."""
    ref = child_profile_ref(profile_ref, plan)
    ref = str(Path(ref).resolve()) if Path(ref).is_file() else ref
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
    if share_gpus:
        args.append("--share-gpus")
    if limits is not None:
        args += ["--log-size", f"{limits.max_bytes / 2**20:g}", "--log-files", str(limits.keep)]
    return args


def child_profile_ref(given: object, plan: Plan) -> str:
    """What the background supervisor re-reads: the caller's reference; for a profile built
    in code, or one read from a pipe (which the supervisor cannot read again), a private
    file holding the resolved profile, one per deployment, written whole or not at all."""
    if isinstance(given, (str, os.PathLike)):
        from trtl.profiles.yaml_source import is_stream

        ref = os.fspath(given)
        if not is_stream(Path(ref).expanduser()):
            return ref
    import yaml
    from trtl.launcher.deployments.paths import state_home
    from trtl.launcher.deployments.state import make_private_dir

    folder = state_home() / "api-profiles"
    make_private_dir(folder)
    path = folder / f"{plan.deployment}.yaml"
    tmp = folder / f".{plan.deployment}.yaml.{os.getpid()}"
    tmp.write_text(
        yaml.safe_dump(plan.profile.model_dump(mode="json", exclude_none=True), sort_keys=False)
    )
    tmp.replace(path)
    return str(path)


def overrides_from_env() -> tuple[str, ...]:
    """The detached supervisor's --set values (see ``detached_args``); not passed further."""
    return tuple(json.loads(os.environ.pop(OVERRIDES_ENV, "[]")))


def _start_failed(
    plan: Plan, code: int, state: DeploymentState | None, log_path: Path
) -> SupervisorError:
    """Why the background supervisor ended before ready, from the state it wrote last."""
    where = f"Its output is in {log_path}; `trtl logs {plan.deployment}` shows the processes' logs."
    if state is not None and state.message:
        tail = ""
        if state.culprit:
            lines = state.culprit_tail
            tail = f"last {len(lines)} lines of {state.culprit}:\n" if lines else ""
            tail += "".join(f"    {line}\n" for line in lines)
        return SupervisorError(
            f"{plan.deployment!r} failed to start: {state.message}",
            hint=tail + (f"{state.hint} " if state.hint else "") + where,
            exit_code=code or 1,
        )
    if code == 0 or code in (-signal.SIGTERM, -signal.SIGINT):
        return SupervisorError(
            f"{plan.deployment!r} was stopped (`trtl down`?) before the model was servable."
        )
    return SupervisorError(
        f"the background supervisor of {plan.deployment!r} ended with exit code {code} "
        "before it wrote its state.",
        hint=where,
        exit_code=code if 0 < code < 126 else 1,
    )


@contextlib.contextmanager
def failures_recorded(name: str | None) -> Iterator[None]:
    """Write a TrtlError raised inside into ``name``'s state file (when given), re-raised."""
    try:
        yield
    except TrtlError as exc:
        if name:
            record_start_failure(name, exc)
        raise


def record_start_failure(name: str, error: TrtlError) -> None:
    """The detached supervisor could not even begin: leave the reason in the state file,
    where ``trtl up -d`` (and ``trtl status``) read it."""
    import psutil
    from trtl.launcher.deployments.lifecycle import DeploymentStatus
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import make_private_dir, write_state

    run_dir = RunDir.for_deployment(name)
    me = psutil.Process()
    state = DeploymentState(
        deployment=name,
        state=DeploymentStatus.FAILED,
        frontend_url="",
        run_dir=str(run_dir.root),
        message=error.message,
        hint=error.hint,
        started_at=time.time(),
        supervisor_pid=me.pid,
        supervisor_create_time=me.create_time(),
    )
    with contextlib.suppress(OSError):
        make_private_dir(run_dir.root)
        write_state(run_dir, state)
