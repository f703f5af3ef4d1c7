"""The benchmark loop: for each graph, start it (if bench owns it), sweep, stop it.

Graphs run one after another with the same workload. A graph bench started is started
exactly as ``trtl up -d`` starts one (``launcher.deployments.detached``), but tied to bench
as ``trtl.up()`` ties it to its caller (its supervisor stops it once bench is gone, also
after a SIGKILL), and stopped as ``trtl down`` stops one (``launcher.deployments.stop``),
whatever happens: a level that fails, a graph that never becomes servable, Ctrl-C. A
graph that fails ends its own sweep; the next graph still runs. After every level the
summary is written, so what finished is kept. Plots are drawn at the end from what there is.

A stop signal (``Interrupted``, see ``interrupts``) ends the whole bench, also while a
graph starts: the graph is stopped, the summary says ``interrupted``, and it is re-raised.
A level that fails because the graph itself failed says so, with the graph's own reason.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtl.launcher.bench.errors import BenchError, Interrupted
from trtl.launcher.bench.figures import Level, read_level
from trtl.launcher.bench.gpu_samples import GpuSampler
from trtl.launcher.bench.loadgen import run_aiperf
from trtl.launcher.bench.summary import (
    OUTPUT_FIX,
    BenchRun,
    BenchSummary,
    write_json,
    write_summary,
)
from trtl.launcher.bench.table import number
from trtl.launcher.bench.targets import Target, check_serving, tokenizer_dir
from trtl.launcher.bench.workload import Workload, aiperf_args
from trtl.launcher.deployments.lifecycle import SERVABLE
from trtl.launcher.deployments.state import DeploymentState
from trtl.profiles.errors import SupervisorError, TrtlError

if TYPE_CHECKING:
    from trtl.launcher.planning.plan import Plan

STOP_FIND_S = 10.0  # how long a just-started supervisor may take to write its state


@dataclass
class Reporter:
    """Where progress goes: ``say`` prints a line; ``waiting`` wraps a long wait (spinner)."""

    say: Callable[[str], None]
    waiting: Callable[[str], contextlib.AbstractContextManager[Any]] = field(
        default=lambda text: contextlib.nullcontext()
    )


@dataclass
class BenchSession:
    """Runs every target under one workload into ``directory``."""

    targets: list[Target]
    workload: Workload
    directory: Path
    report: Reporter
    machine: dict[str, Any]
    describe_plan: Callable[[Any], dict[str, Any]] = lambda plan: plan.to_json()
    sampler: Callable[[list[int]], GpuSampler] = lambda gpus: GpuSampler(gpus)
    # A block a stop signal must not cut short (StopSignals.shielded): a graph's stop.
    shield: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    def run(self) -> BenchSummary:
        """Benchmark every target; the summary says what finished. Re-raises Ctrl-C after
        stopping what bench started and writing the summary. Raises BenchError (exit 2)
        when the results directory cannot be written, before anything starts."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_json(self.directory / "machine.json", self.machine)
        except OSError as exc:
            raise BenchError(
                f"cannot write the results directory {self.directory} ({exc.strerror}); "
                f"{OUTPUT_FIX}.",
                exit_code=2,
            ) from exc
        summary = BenchSummary(self.workload)
        try:
            for target in self.targets:
                run = BenchRun(
                    label=target.label,
                    url=target.url,
                    model=target.model,
                    engine=target.engine,
                    deployment=target.deployment,
                    gpus=target.gpus,
                    workers=target.workers,
                )
                summary.runs.append(run)
                write_summary(self.directory, summary)
                self._graph(target, run, summary)
            summary.complete = all(run.error is None for run in summary.runs)
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            write_summary(self.directory, summary)
            self._plots(summary)
        return summary

    def _graph(self, target: Target, run: BenchRun, summary: BenchSummary) -> None:
        graph_dir = self.directory / safe_name(target.label)
        graph_dir.mkdir(parents=True, exist_ok=True)
        started: list[bool] = []  # set once bench's supervisor runs: from then on it is stopped
        try:
            if target.plan is not None:
                self._preflight(target)
                self._start(target, on_spawned=lambda: started.append(True))
            self._record(target, graph_dir)
            check_serving(target)
            for concurrency in self.workload.concurrency:
                before = graph_health(target)
                try:
                    level = self._level(target, run, concurrency, graph_dir)
                except BenchError as exc:
                    failed = graph_failed(target, concurrency, before)
                    if failed is None:
                        raise
                    raise failed from exc
                run.levels.append(level)
                write_summary(self.directory, summary)
        except TrtlError as exc:
            run.error = exc.message
            self.report.say(f"{target.label}: failed: {exc.message}")
            if exc.hint:
                self.report.say(f"{target.label}: {exc.hint}")
        except KeyboardInterrupt as exc:
            name = exc.name if isinstance(exc, Interrupted) else "Ctrl-C"
            run.error = f"interrupted ({name})"
            raise
        finally:
            if started:
                with self.shield():
                    self._stop(target)

    def _preflight(self, target: Target) -> None:
        """trtl up's checks: nothing is started (nor stopped) when one fails."""
        from trtl.launcher.deployments import running

        assert target.plan is not None and target.start is not None
        refuse_if_running(target.plan)
        if not target.checked:
            running.preflight(target.plan, offline=target.start.offline)

    def _start(self, target: Target, on_spawned: Callable[[], None]) -> None:
        from trtl.launcher.deployments import detached
        from trtl.launcher.deployments.state import read_state

        plan, opts = target.plan, target.start
        assert plan is not None and opts is not None
        self.report.say(f"{target.label}: starting {len(plan.processes)} processes")
        grace = plan.profile.stop_grace if opts.grace is None else opts.grace
        args = detached.detached_args(
            target.profile_ref, plan, opts.engine, opts.model, opts.overrides,
            opts.gpus, opts.python, opts.timeout, grace, opts.offline,
            share_gpus=opts.share_gpus,
        )  # fmt: skip
        # Without `trtl up -d`'s banner (curl, chat) on stdout, which is for data here
        # (--json): bench prints its own line instead.
        with self.report.waiting(f"{target.label}: waiting until servable"):
            try:
                detached.start_detached(
                    plan,
                    args,
                    timeout=opts.timeout,
                    overrides=opts.overrides,
                    offline=opts.offline,
                    announce=False,
                    # Tied to bench: killed with SIGKILL, bench cannot stop it; its
                    # supervisor then stops the graph itself once bench is gone.
                    owned=True,
                    # Not before: a name another start took in the meantime is not bench's
                    # to stop.
                    on_spawned=on_spawned,
                )
            except detached.StartStopped as exc:
                # The start takes the stop signals itself while it waits (it stops the
                # supervisor): the user meant the whole bench, not this graph alone.
                raise Interrupted(exc.signum) from exc
        state = read_state(plan.run_dir)
        after = f" after {state.ready_after:.2f} s" if state and state.ready_after else ""
        self.report.say(f"{target.label}: ready{after} at {target.url}")
        # A Hugging Face model was downloaded by preflight if it was missing: find it now.
        target.tokenizer = tokenizer_dir(target.tokenizer)

    def _stop(self, target: Target) -> None:
        from trtl.launcher.deployments.lock import DeploymentLock
        from trtl.launcher.deployments.stop import stop_deployment

        opts = target.start
        grace = opts.grace if opts and opts.grace is not None else None
        deadline = time.monotonic() + STOP_FIND_S
        while True:
            try:
                lines = stop_deployment(target.deployment, grace)
                break
            except TrtlError as exc:
                # Ctrl-C right after the background supervisor started: it holds the lock
                # but has not written its state yet. Wait for it rather than leave it.
                assert target.plan is not None
                holder = DeploymentLock(target.plan.run_dir).holder()
                if holder is None or time.monotonic() > deadline:
                    self.report.say(f"{target.label}: could not stop it: {exc.message}")
                    return
                time.sleep(0.1)
        self.report.say(f"{target.label}: {lines[-1]}")

    def _record(self, target: Target, graph_dir: Path) -> None:
        """The resolved profile and plan of a graph bench started; the state of one found."""
        if target.plan is not None:
            import yaml

            profile = target.plan.profile.model_dump(
                mode="json", exclude_none=True, exclude={"extends"}
            )
            (graph_dir / "profile.yaml").write_text(
                yaml.safe_dump(masked(profile), sort_keys=False, width=100)
            )
            write_json(graph_dir / "plan.json", self.describe_plan(target.plan))
        elif target.state is not None:
            write_json(graph_dir / "state.json", target.state.to_json())

    def _level(self, target: Target, run: BenchRun, concurrency: int, graph_dir: Path) -> Level:
        level_dir = graph_dir / f"c{concurrency}"
        requests = self.workload.requests_at(concurrency)
        args = aiperf_args(
            self.workload,
            concurrency,
            url=target.url,
            model=target.model,
            tokenizer=target.tokenizer,
            artifact_dir=level_dir,
        )
        sampler = self.sampler(target.gpus).start()
        began = time.monotonic()
        text = f"{target.label}: concurrency {concurrency}, {requests} requests"
        try:
            with self.report.waiting(text):
                run_aiperf(args, level_dir)
        finally:
            sampler.stop()
        level = read_level(level_dir, concurrency, run.units)
        level.artifacts = str(level_dir.relative_to(self.directory))
        for key, value in sampler.summary().items():
            setattr(level, key, value)
        self.report.say(
            f"{text}: {time.monotonic() - began:.1f} s, TTFT p50 {level.ttft_p50_ms:.1f} ms, "
            f"ITL p50 {number(level.itl_p50_ms)} ms, {level.output_tok_s:.0f} tok/s, "
            f"{level.errors} errors"
        )
        return level

    def _plots(self, summary: BenchSummary) -> None:
        try:
            from trtl.launcher.bench.plots import draw_all

            draw_all(summary, self.directory)
        except ImportError as exc:
            self.report.say(f"no plots: matplotlib is missing ({exc}); pip install 'trtl[bench]'")


def refuse_if_running(plan: Plan) -> None:
    """trtl up's "already running" refusal, with a fix bench has (it has no --name).
    Raises PreflightError."""
    from trtl.launcher.deployments import running
    from trtl.profiles.errors import PreflightError

    try:
        running.refuse_if_running(plan)
    except PreflightError as exc:
        name = plan.deployment
        raise PreflightError(
            exc.message,
            hint=f"Stop it with `trtl down {name}` (a bench that was killed leaves its graph "
            f"running), or benchmark it as it runs: `trtl bench {name}`.",
            exit_code=exc.exit_code,
        ) from exc


def graph_health(target: Target) -> dict[str, int] | None:
    """Each process's restarts so far, for a deployment trtl runs; None for a bare URL or a
    deployment that is not servable (or whose state cannot be read)."""
    state = _deployment_state(target)
    if state is None or state.state not in SERVABLE:
        return None
    return {p.name: p.restarts for p in state.processes}


def graph_failed(
    target: Target, concurrency: int, before: dict[str, int] | None
) -> BenchError | None:
    """Why a level failed when it was the graph's doing: its deployment failed or stopped, or
    a process of it restarted, while the level ran. None when the graph looks as before."""
    state = _deployment_state(target)
    if state is None or before is None:
        return None
    if state.state in SERVABLE:
        restarted = [p for p in state.processes if p.restarts > before.get(p.name, 0)]
        if not restarted:
            return None
        first = restarted[0]
        code = f" (exit code {first.exit_code})" if first.exit_code is not None else ""
        reason = state.message or f"{first.name} exited{code} and was restarted"
    else:
        reason = state.message or f"it is {state.state}"
    return BenchError(
        f"the graph failed during concurrency {concurrency}: {reason.rstrip('.')}; "
        f"see `trtl logs {target.deployment}`."
    )


def _deployment_state(target: Target) -> DeploymentState | None:
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import read_state

    if not target.deployment:
        return None
    try:
        return read_state(RunDir.for_deployment(target.deployment))
    except (SupervisorError, OSError, ValueError):
        return None


def safe_name(label: str) -> str:
    """A directory name for a graph's label (a URL's host:port included)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._") or "graph"


def masked(data: Any, key: str = "") -> Any:
    """``data`` with secret-looking values (by key name or token shape) as ``***``."""
    from trtl.profiles.overrides import looks_secret

    if isinstance(data, dict):
        return {k: masked(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key) for v in data]
    if isinstance(data, str) and looks_secret(key, data):
        return "***"
    return data
