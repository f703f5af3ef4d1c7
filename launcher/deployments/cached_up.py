"""A repeated ``trtl up`` from its cached plan: every process first, then everything else.

``trtl up`` in the foreground, run again with the same arguments, environment, profile
files, model and Dynamo install (``plan_cache`` lists every input), takes its validated
plan from the cache and spawns every process before importing anything else: no click,
no pydantic, no YAML, not even pathlib or dataclasses (``supervision.early_start`` works on
the plan's raw JSON; the supervisor adopts the processes afterwards). The checks that
depend on the moment still run first, as in the validating path (full disk, the claim on
the name with its holder, the graph-size limit, its ports free); any doubt at all falls
back to the ordinary command, which validates, checks and explains. ``python -m
trtl.launcher`` (the console script) calls it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing it would delay the first spawn
if TYPE_CHECKING:
    from trtl.launcher.supervision import early_start
    from trtl.launcher.supervision.quiet_start import HeldStops


def cached_up(args: list[str]) -> int | None:
    """Run ``trtl up ARGS`` from the cached plan; None when it must take the normal path."""
    from trtl.launcher.planning.plan_key import read_entry
    from trtl.launcher.supervision import early_start

    entry = read_entry(args)
    if entry is None:
        return None
    from trtl.launcher.supervision.quiet_start import HeldStops, wait_until_listed

    stops = HeldStops()  # from here a stop waits for the supervisor, which drains
    try:
        early = early_start.start(entry)  # None: it was not sure; the steps below say why
        if early is None:
            stops.give_back()  # nothing spawned: a stop now acts as in the ordinary path
        else:
            pids = [proc.pid for proc, _, _ in early.started.values()]
            if wait_until_listed(entry["plan"], pids, stops=stops) != "stopped":
                _import_yielding()
        try:
            code = _from_entry(entry, early, stops)
        finally:
            stops.release()  # the supervisor has ended: Ctrl-C acts as Python's again
        if code is None and early is not None:
            stops.give_back()  # abandoned: the ordinary path starts afresh
        return code
    except KeyboardInterrupt:
        # A Ctrl-C given back (nothing spawned, the processes abandoned, or a second one
        # before the supervisor took over: they end with this process by their
        # parent-death signal), or one while a start without early spawn spawns.
        return 130


# What supervising imports (pathlib, dataclasses, threading, the supervisor...): 30-40 ms of
# CPU while the processes just spawned start beside it.
SUPERVISING_MODULES = (
    "trtl.launcher.planning.plan_cache",
    "trtl.launcher.deployments.running",
    "trtl.launcher.deployments.lock",
    "trtl.launcher.supervision.supervisor",
    "trtl.launcher.terminal",
)


def _import_yielding() -> None:
    """Import what supervising needs in a thread of the lowest priority (``yielding``),
    waiting for it: the processes spawned a moment ago get the cores first. The main
    thread keeps its priority: it spawns every restart."""
    # Here, on the main thread: threading takes the thread that imports it for the main one.
    import threading

    from trtl.launcher.supervision.yielding import yield_cpu

    def work() -> None:
        yield_cpu()
        for name in SUPERVISING_MODULES:
            try:
                __import__(name)
            except Exception:  # the main thread imports it again and reports
                continue

    helper = threading.Thread(target=work, name="trtl-imports", daemon=True)
    helper.start()
    helper.join()


def _from_entry(entry: dict, early: early_start.EarlyStart | None, stops: HeldStops) -> int | None:
    from trtl.launcher.planning.plan_cache import from_entry

    cached = from_entry(entry)
    if cached is None:
        if early is not None:
            early.abandon()
        return None
    plan = cached.plan
    from trtl.launcher.deployments import running
    from trtl.launcher.planning.limits import check_graph_size
    from trtl.launcher.supervision.log_rotation import LogLimits
    from trtl.profiles.errors import TrtlError

    limits = LogLimits()
    if cached.log_max_bytes is not None and cached.log_keep is not None:
        limits = LogLimits(max_bytes=cached.log_max_bytes, keep=cached.log_keep)
    if early is not None:
        from trtl.launcher.deployments.lock import DeploymentLock

        lock = DeploymentLock.adopt(plan.run_dir, early.lock_fd)
        return _supervise(running, cached, plan, lock, limits, early.started, stops.received)
    # The same steps as the validating path, in its order: the full-disk check and the
    # claim on the name (the lock, its holder written), the graph-size limit; then, instead
    # of the whole preflight (engine, model and Dynamo are in the cache key), the ports.
    # Any refusal falls back to that path, which says why in its own words.
    try:
        lock = running.claim(plan)
    except TrtlError:
        return None
    try:
        check_graph_size(len(plan.processes), plan.profile.name)
        if not _ports_free(plan):
            lock.release()
            return None  # the normal path's preflight names the port and its holder
    except TrtlError:
        lock.release()
        return None
    return _supervise(running, cached, plan, lock, limits, None, None)


def _supervise(
    running, cached, plan, lock, limits, started: dict | None, stops: list[int] | None
) -> int:
    from trtl.profiles.errors import TrtlError

    try:
        return running.supervise(
            plan,
            lock,
            quiet=cached.quiet,
            timeout=cached.timeout,
            grace=cached.grace,
            live=True,
            verbose=cached.verbose,
            limits=limits,
            started=started,
            stops_before=stops,
        )
    except TrtlError as exc:
        from trtl.launcher.terminal import error_line

        error_line(exc.message, exc.hint)
        return exc.exit_code
    except Exception as exc:  # as the CLI's root group does: one line, no traceback
        if os.environ.get("TRTL_DEBUG"):
            raise
        from trtl.launcher.terminal import error_line

        error_line(
            f"internal error: {type(exc).__name__}: {exc}",
            "This is a trtl bug; run again with TRTL_DEBUG=1 for the traceback.",
        )
        return 1


def _ports_free(plan) -> bool:
    """Every port of the plan can be bound now, on the host its process binds (the early
    spawn's check, on the plan's processes)."""
    from trtl.launcher.supervision.early_start import ports_free

    return ports_free([(p.name, p.role, p.argv, p.env, p.ports) for p in plan.processes])
