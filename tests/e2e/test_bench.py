"""``trtl bench agg disagg`` on the mocker: real frontends, real workers, real aiperf.

One comparison (two graphs, concurrency 1 and 2, a few short requests each) serves most
tests of the module: they check what a user would read in its output and its results
directory, and that nothing it started is left. A second deployment, started with
``trtl up -d``, is benchmarked by name and must still run afterwards; Ctrl-C in the middle
of a sweep must stop the graph bench started.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from trtl.launcher.bench.plots import HEIGHT, PLOTS, WIDTH
from trtl.launcher.bench.table import number
from trtl.launcher.planning.ports import free_ports

from tests.e2e.bench_helpers import aiperf_processes, png_size, started_pids, table_rows
from tests.e2e.up_helpers import kill_groups, tree_alive

ISL, OSL, LEVELS, REQUESTS = 32, 8, (1, 2), 4
WORKERS = {"agg": 1, "disagg": 2}  # worker processes: no GPU, so throughput is per process


def env_for(home: Path) -> dict[str, str]:
    """trtl's environment pinned to ``home`` (module fixtures outlive per-test XDG dirs)."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env["XDG_STATE_HOME"] = str(home / "state")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env.pop("NATS_SERVER", None)
    return env


def trtl(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bench_args(model: Path, *extra: str) -> list[str]:
    return ["bench", "--engine", "mocker", "--model", str(model), "--isl", str(ISL),
            "--osl", str(OSL), "--requests", str(REQUESTS), "--warmup", "1",
            "--grace", "5", *extra]  # fmt: skip


@dataclass
class Compared:
    result: subprocess.CompletedProcess[str]
    out: Path
    home: Path
    pids: list[int]

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out / "summary.json").read_text())

    def run(self, label: str) -> dict[str, Any]:
        return next(r for r in self.summary["runs"] if r["label"] == label)


@pytest.fixture(scope="module")
def compared(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("bench-home")
    out = home / "results"
    levels = ",".join(map(str, LEVELS))
    pids: list[int] = []
    try:
        result = trtl(home, *bench_args(tiny_model, "agg", "disagg", "--concurrency", levels,
                                        "-o", str(out)))  # fmt: skip
        for name in ("bench-agg", "bench-disagg"):
            pids += started_pids(home, name)
        yield Compared(result, out, home, pids)
    finally:
        kill_groups(pids)  # last resort, so a failing test leaves nothing behind


def test_every_level_finished_without_errors(compared: Compared) -> None:
    assert compared.result.returncode == 0, compared.result.stderr
    summary = compared.summary
    assert summary["complete"] and not summary["interrupted"]
    assert [r["label"] for r in summary["runs"]] == ["agg", "disagg"]
    for run in summary["runs"]:
        assert run["error"] is None
        assert [lv["concurrency"] for lv in run["levels"]] == list(LEVELS)
        for level in run["levels"]:
            assert level["errors"] == 0
            assert level["requests"] == REQUESTS


def test_figures_are_positive_and_plausible(compared: Compared) -> None:
    for run in compared.summary["runs"]:
        assert run["per"] == "process" and run["workers"] == WORKERS[run["label"]]
        for lv in run["levels"]:
            assert 0 < lv["ttft_p50_ms"] <= lv["ttft_p90_ms"] <= lv["ttft_p99_ms"] < 30_000
            # 0, or none at all, where aiperf saw no gap between tokens: a busy machine can
            # stream the mocker's few tokens in one chunk (seen on CI); never negative or absurd.
            itl = (lv["itl_p50_ms"], lv["itl_p99_ms"])
            assert itl == (None, None) or 0 <= itl[0] <= itl[1] < 10_000, itl
            assert lv["requests_per_s"] > 0 and lv["output_tok_s"] > 0
            # Every answer is OSL tokens long (ignore_eos), so tokens/s = requests/s x OSL.
            assert lv["output_tok_s"] == pytest.approx(lv["requests_per_s"] * OSL, rel=0.05)
            assert lv["output_tok_s_per_unit"] == pytest.approx(
                lv["output_tok_s"] / WORKERS[run["label"]]
            )
            assert lv["output_tok_s_per_user"] > 0
        # One user alone streams at least as fast as the whole graph serves it (the graph's
        # figure also counts the time to first token and the gaps between requests).
        alone = run["levels"][0]
        assert alone["output_tok_s_per_user"] >= 0.5 * alone["output_tok_s"]


def test_table_json_and_csv_agree(compared: Compared) -> None:
    rows = table_rows(compared.result.stdout)
    summary = compared.summary
    agg, disagg = summary["runs"]
    for i, concurrency in enumerate(LEVELS):
        a, d = agg["levels"][i], disagg["levels"][i]
        for key, label in (("ttft_p50_ms", "TTFT p50 ms"), ("itl_p99_ms", "ITL p99 ms"),
                           ("output_tok_s", "output tok/s"),
                           ("output_tok_s_per_unit", "tok/s per process"),
                           ("output_tok_s_per_user", "tok/s per user"),
                           ("errors", "errors")):  # fmt: skip
            cells = [c.rstrip("*") for c in rows[(concurrency, label)]]
            assert cells[:2] == [number(a[key]), number(d[key])], (concurrency, label)
            if a[key]:
                assert cells[2] == f"{d[key] / a[key]:.2f}x"
        # The better one is marked: the lower TTFT p50, the higher throughput.
        ttft = rows[(concurrency, "TTFT p50 ms")]
        better = 0 if a["ttft_p50_ms"] < d["ttft_p50_ms"] else 1
        assert ttft[better].endswith("*") and not ttft[1 - better].endswith("*")
    with open(compared.out / "summary.csv") as f:
        csv_rows = list(csv.DictReader(f))
    levels = [(run["label"], lv) for run in summary["runs"] for lv in run["levels"]]
    assert len(csv_rows) == len(levels)
    for row, (label, level) in zip(csv_rows, levels, strict=True):
        assert row["label"] == label
        for key, value in level.items():
            if isinstance(value, float):
                assert float(row[key]) == pytest.approx(value), key
            elif value is not None:
                assert row[key] == str(value), key
    # `bench show` prints the stored result again, the same numbers.
    shown = trtl(compared.home, "bench", "show", str(compared.out), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["runs"] == summary["runs"]
    again = trtl(compared.home, "bench", "show", str(compared.out))
    assert table_rows(again.stdout) == rows


def test_plots_are_pngs_of_the_expected_size(compared: Compared) -> None:
    for name in PLOTS:
        path = compared.out / name
        assert png_size(path) == (WIDTH, HEIGHT)
        assert path.stat().st_size > 10_000  # drawn, not blank


def test_results_directory_holds_raw_artifacts_and_plans(compared: Compared) -> None:
    out = compared.out
    machine = json.loads((out / "machine.json").read_text())
    assert machine["aiperf"].startswith("0.13") and machine["trtl"]
    for label in ("agg", "disagg"):
        plan = json.loads((out / label / "plan.json").read_text())
        assert plan["profile"] == label and plan["engine"] == "mocker"
        assert "engine: mocker" in (out / label / "profile.yaml").read_text()
        for concurrency in LEVELS:
            level = out / label / f"c{concurrency}"
            assert (level / "profile_export_aiperf.json").is_file()
            records = [json.loads(line) for line in (level / "profile_export.jsonl").open()]
            measured = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling"]
            assert len(measured) == REQUESTS  # one record per request, warm-up apart
    assert "results:" in compared.result.stderr and str(out) in compared.result.stderr


def test_nothing_is_left_running(compared: Compared) -> None:
    assert "'bench-agg' stopped; nothing left running" in compared.result.stderr
    assert "'bench-disagg' stopped; nothing left running" in compared.result.stderr
    assert tree_alive(compared.pids) == []
    assert aiperf_processes(compared.out) == []
    for name in ("bench-agg", "bench-disagg"):
        status = trtl(compared.home, "status", name, "--json")
        assert json.loads(status.stdout)["state"] == "stopped"


# --- a deployment that runs already, and bad input ----------------------------------------


def test_running_deployment_is_benchmarked_and_left_running(tiny_model: Path, home: Path) -> None:
    port = str(free_ports(1, exclude=set())[0])
    up = trtl(home, "up", "agg", "--engine", "mocker", "--model", str(tiny_model), "--name",
              "live", "--port", port, "-d")  # fmt: skip
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stderr
        pids = started_pids(home, "live")
        check_running_deployment(tiny_model, home, f"http://127.0.0.1:{port}")
    finally:
        trtl(home, "down", "live", "--grace", "2")  # in this test's own state dir
        kill_groups(pids)  # last resort, so a failing test leaves nothing behind


def check_running_deployment(tiny_model: Path, home: Path, url: str) -> None:
    wrong = trtl(home, "bench", "--url", url, "--model", "nope", "--tokenizer", str(tiny_model))
    assert wrong.returncode == 2
    assert "does not serve model 'nope'" in wrong.stderr and "Traceback" not in wrong.stderr

    out = home / "live-results"
    result = trtl(home, "bench", "live", "--concurrency", "1", "--requests", "2", "--isl", "16",
                  "--osl", "4", "--json", "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    assert run["label"] == "live" and run["levels"][0]["errors"] == 0
    assert (out / "live" / "state.json").is_file()
    status = json.loads(trtl(home, "status", "live", "--json").stdout)
    assert status["state"] == "ready"  # bench did not start it, so it did not stop it

    trtl(home, "down", "live", "--grace", "2")
    stopped = trtl(home, "bench", "live")
    assert stopped.returncode != 0
    assert "deployment 'live' is not running (stopped)" in stopped.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuchprofile",), "nosuchprofile"),
        (("agg", "--concurrency", "1,x"), "--concurrency '1,x' is not a list"),
        (("show", "/nonexistent"), "holds no trtl bench result"),
        # trtl up's preflight runs for every profile before the first one starts.
        (("agg", "disagg", "--engine", "mocker", "--model", "/nonexistent/m"), "/nonexistent/m"),
    ],
)
def test_bad_input_is_one_sentence(run_trtl, args: tuple[str, ...], message: str) -> None:
    result = run_trtl("bench", *args)
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unreachable_url_is_one_sentence(run_trtl) -> None:
    port = free_ports(1, exclude=set())[0]
    result = run_trtl("bench", "--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert f"nothing listens at http://127.0.0.1:{port}" in result.stderr


def test_ctrl_c_stops_the_graph_bench_started(tiny_model: Path, home: Path) -> None:
    out = home / "interrupted"
    # Started with SIGINT ignored, as a script's background job (`trtl bench … &`) and
    # everything a test run started that way inherit it: bench must stop on it all the same.
    ignoring = ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh"]
    proc = subprocess.Popen(
        [*ignoring, sys.executable, "-m", "trtl.launcher",
         *bench_args(tiny_model, "agg", "--concurrency", "1,2", "-o", str(out))],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    pids: list[int] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # interrupt while aiperf runs the first level
            if "ready after" in line:
                pids = started_pids(home, "bench-agg")
                time.sleep(1.0)
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.communicate(timeout=120)[1]
        assert proc.returncode == 130, rest
        assert "'bench-agg' stopped; nothing left running" in rest
        assert tree_alive(pids) == []
        assert aiperf_processes(out) == []
        assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    finally:
        proc.kill()
        kill_groups(pids)
