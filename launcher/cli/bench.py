"""``trtl bench``: benchmark a running deployment, or start profiles one by one and compare."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from trtl.launcher.cli.options import load, plan_for, profile_options
from trtl.launcher.terminal import style, table_console

if TYPE_CHECKING:
    from trtl.launcher.bench.interrupts import StopSignals
    from trtl.launcher.bench.session import BenchSession


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("targets", nargs=-1, metavar="[NAME|PROFILE]...")
@profile_options
@click.option("--url", default=None, metavar="URL", help="Benchmark the frontend at URL.")
@click.option("--tokenizer", default=None, metavar="DIR", help="Local tokenizer directory.")
@click.option("--isl", type=click.IntRange(1), default=None, help="Input tokens per request.")
@click.option("--osl", type=click.IntRange(1), default=None, help="Output tokens per request.")
@click.option("--concurrency", default=None, metavar="N,N,…", help="Concurrency sweep.")
@click.option(
    "--requests", type=click.IntRange(1), default=None, help="Requests per level [10 x conc]."
)
@click.option(
    "--warmup", type=click.IntRange(0), default=None, help="Warm-up requests per level [conc]."
)
@click.option("--input-file", default=None, metavar="PATH", help="A dataset or trace for aiperf.")
@click.option("--dataset-type", default=None, help="aiperf's --custom-dataset-type of it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Prompt random seed.")
@click.option("--compare/--no-compare", default=None, help="Ratios and marks [several graphs].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Frontend port.")
@click.option("--gpus", default=None, help="GPUs the started graphs may use, e.g. 0,1.")
@click.option("--python", default=None, metavar="PATH", help="Python that runs Dynamo.")
@click.option("--share-gpus", is_flag=True, help="Let workers share GPUs (development only).")
@click.option("--timeout", type=click.FloatRange(1), default=1800.0, show_default=True,
              help="Seconds each started graph may take to become servable.")  # fmt: skip
@click.option("--grace", type=click.FloatRange(0), default=None, help="Stop grace seconds.")
@click.option("--offline", is_flag=True, help="Never download the model.")
@click.option("-o", "--output", default=None, metavar="DIR", help="Results directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def bench(*, targets: tuple[str, ...], as_json: bool, **options) -> None:
    """Benchmark graphs with aiperf and compare them: `trtl bench agg disagg`.

    A NAME of a running deployment is benchmarked as it runs. A PROFILE is started as
    `trtl up -d` would, benchmarked once servable, and stopped; several run one after the
    other under the same load. `--url` benchmarks any frontend. `trtl bench show DIR`
    prints a stored result again. Needs `pip install 'trtl[bench]'`.
    """
    if targets[:1] == ("show",):
        if len(targets) != 2:
            raise click.UsageError("give one results directory: trtl bench show DIR")
        _show(Path(targets[1]), as_json, options["compare"])
        return
    from trtl.launcher.bench.loadgen import require_aiperf
    from trtl.launcher.bench.workload import parse_concurrency

    aiperf_version = require_aiperf()
    if options["concurrency"]:
        parse_concurrency(options["concurrency"])  # before any graph is planned or started
    if bool(targets) == bool(options["url"]):
        raise click.UsageError("give deployment names or profiles, or --url, e.g. trtl bench agg")
    if len(set(targets)) != len(targets):
        raise click.UsageError("each graph once: a profile or name is given twice")
    if options["dataset_type"] and not options["input_file"]:
        raise click.UsageError("--dataset-type describes --input-file: give both, or neither")
    code = _run(targets, as_json, aiperf_version, options)
    click.get_current_context().exit(code)


def _run(targets: tuple[str, ...], as_json: bool, aiperf_version: str, options: dict) -> int:
    """Bench under ``StopSignals``: SIGINT, SIGTERM or SIGHUP stops what it started and
    exits 128 + the signal, also before the first graph starts (nothing runs then)."""
    from trtl.launcher.bench.errors import Interrupted
    from trtl.launcher.bench.interrupts import StopSignals

    session = None
    with StopSignals() as stops:
        try:
            session = _session(targets, aiperf_version, options, stops)
            summary = session.run()
        except KeyboardInterrupt as exc:
            code = exc.exit_code if isinstance(exc, Interrupted) else 130
            name = exc.name if isinstance(exc, Interrupted) else "SIGINT"
            if session is None or not (session.directory / "summary.json").is_file():
                _say(f"interrupted ({name}): nothing was started")
                return code
            from trtl.launcher.bench.summary import read_summary

            _say(f"interrupted ({name}): every graph bench started is stopped")
            _print(read_summary(session.directory), as_json, options["compare"])
            return code
    _print(summary, as_json, options["compare"])
    return 0 if summary.complete else 1


def _session(
    targets: tuple[str, ...], aiperf_version: str, options: dict, stops: StopSignals
) -> BenchSession:
    from trtl.launcher.bench.session import BenchSession, Reporter
    from trtl.launcher.bench.summary import check_output, default_directory, machine_info
    from trtl.launcher.bench.workload import make_workload

    if options["output"]:  # before a graph is planned (and its model maybe downloaded)
        check_output(Path(options["output"]).expanduser().absolute())
    resolved = _targets(targets, options)
    workload = make_workload(
        has_gpus=any(t.gpus for t in resolved),
        isl=options["isl"],
        osl=options["osl"],
        concurrency=options["concurrency"],
        requests=options["requests"],
        warmup=options["warmup"],
        input_file=options["input_file"],
        dataset_type=options["dataset_type"],
        seed=options["seed"],
    )
    out = (
        Path(options["output"])
        if options["output"]
        else default_directory([t.label for t in resolved])
    )
    return BenchSession(
        resolved,
        workload,
        out.expanduser().resolve(),
        Reporter(_say, _waiting),
        machine_info(aiperf_version),
        describe_plan=_plan_json,
        shield=stops.shielded,
    )


def _targets(refs: tuple[str, ...], options: dict) -> list:
    """Running deployments as they are; the other names are profiles to start."""
    from trtl.launcher.bench import targets as t
    from trtl.launcher.planning.ports import free_ports
    from trtl.profiles.errors import ProfileError

    tokenizer = t.given_tokenizer(options["tokenizer"]) if options["tokenizer"] else None
    if options["url"]:
        target = t.from_url(options["url"], options["model"], tokenizer)
        t.check_serving(target)  # before anything is written
        return [target]
    start = t.StartOptions(
        engine=options["engine"], model=options["model"], overrides=options["overrides"],
        gpus=options["gpus"], python=options["python"], share_gpus=options["share_gpus"],
        timeout=options["timeout"], grace=options["grace"], offline=options["offline"],
    )  # fmt: skip
    found = []
    for ref in refs:
        state = t.running_deployment(ref)
        if state is not None:
            found.append(t.from_state(state, tokenizer))
            t.check_serving(found[-1])
            continue
        try:
            profile = load(ref, options["engine"], options["model"], options["overrides"])
        except ProfileError:
            _refuse_stopped(ref)
            raise
        port = options["port"] or free_ports(1, exclude=set())[0]
        plan = plan_for(
            profile, name=f"bench-{profile.name}", port=port, gpus=options["gpus"],
            python=options["python"], share_gpus=options["share_gpus"],
        )  # fmt: skip
        found.append(t.from_plan(plan, ref, start, tokenizer))
    _preflight([target for target in found if target.plan is not None], options["offline"])
    labels = [target.label for target in found]
    if len(set(labels)) != len(labels):
        raise click.UsageError(f"two graphs share a name ({', '.join(labels)}); give each once")
    return found


def _preflight(targets: list, offline: bool) -> None:
    """trtl up's checks for every profile before the first starts: a graph that cannot
    start is named now, not after the others ran for minutes. Raises PreflightError."""
    from trtl.launcher.bench.session import refuse_if_running
    from trtl.launcher.deployments import running

    for target in targets:
        refuse_if_running(target.plan)
        running.preflight(target.plan, offline=offline)
        target.checked = True


def _refuse_stopped(ref: str) -> None:
    """A name that is no profile but a deployment that ran here: say it is not running."""
    from trtl.launcher.bench.errors import BenchError
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import read_state
    from trtl.profiles.errors import SupervisorError

    with contextlib.suppress(SupervisorError, OSError, ValueError):
        state = read_state(RunDir.for_deployment(ref))
        if state is not None:
            raise BenchError(
                f"deployment {ref!r} is not running ({state.state}).",
                hint=f"Start it with `trtl up … --name {ref} -d`, or give a profile to start.",
            )


def _plan_json(plan) -> dict:
    """The plan as `trtl plan --json` shows it: secrets masked."""
    from trtl.launcher.cli.plan import masked_argv, masked_env

    data = plan.to_json()
    for proc in data["processes"]:
        proc["env"] = masked_env(proc["env"])
        proc["argv"] = masked_argv(proc["argv"])
    return data


def _show(directory: Path, as_json: bool, compare: bool | None) -> None:
    from trtl.launcher.bench.summary import read_summary

    _print(read_summary(directory.expanduser()), as_json, compare)


def _print(summary, as_json: bool, compare: bool | None) -> None:
    """The table on stdout (or the JSON), then notes and where the files are on stderr."""
    from trtl.launcher.bench.table import footer, render

    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=1))
        return
    table_console().print(render(summary, compare=compare))
    for line in footer(summary, compare=compare):
        _say(line)
    if summary.directory:
        _say(f"results: {summary.directory}  (trtl bench show {summary.directory})")


def _say(text: str) -> None:
    click.echo(style(f"bench | {text}", sys.stderr, dim=True), err=True)


def _waiting(text: str):
    """A spinner on a terminal while aiperf runs or a graph starts; nothing in a pipe."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(file=sys.stderr).status(f"{text} …")
