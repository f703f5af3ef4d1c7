"""``trtl bench agg --engine vllm``: aiperf against a real vLLM engine on CPU, started and
stopped by bench, with the same checks as the mocker comparison in tests/e2e/test_bench.py.

One benchmark for the whole module (the engine loads for a minute or more).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trtl.launcher.bench.plots import HEIGHT, PLOTS, WIDTH
from trtl.launcher.bench.table import number

from tests.e2e.bench_helpers import aiperf_processes, png_size, started_pids, table_rows
from tests.real_engine.helpers import READY_TIMEOUT_S, kill_groups, left_running, trtl

ISL, OSL, LEVELS, REQUESTS = 16, 8, (1, 2), 4


@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory, vllm_python: Path, tiny_real_model: Path):
    home = tmp_path_factory.mktemp("vllm-bench-home")
    out = home / "results"
    pids: list[int] = []
    try:
        result = trtl(
            home, "bench", "agg", "--engine", "vllm", "--python", str(vllm_python),
            "--model", str(tiny_real_model), "--set", "vllm.enforce_eager=true",
            "--concurrency", ",".join(map(str, LEVELS)), "--requests", str(REQUESTS),
            "--isl", str(ISL), "--osl", str(OSL), "--warmup", "1",
            "--timeout", str(READY_TIMEOUT_S), "-o", str(out),
            timeout=READY_TIMEOUT_S + 900,
        )  # fmt: skip
        pids = started_pids(home, "bench-agg")
        yield result, out, pids
    finally:
        kill_groups(pids)  # last resort, so a failing test leaves nothing behind


def test_every_level_finished_with_plausible_figures(benched) -> None:
    result, out, _ = benched
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    (run,) = summary["runs"]
    assert summary["complete"] and run["error"] is None and run["engine"] == "vllm"
    assert [lv["concurrency"] for lv in run["levels"]] == list(LEVELS)
    for lv in run["levels"]:
        assert lv["errors"] == 0 and lv["requests"] == REQUESTS
        assert 0 < lv["ttft_p50_ms"] <= lv["ttft_p99_ms"] < 120_000
        # 0, or none at all, where aiperf saw no gap between tokens: a busy CPU engine can
        # stream its few tokens in one chunk (seen under load); never negative or absurd.
        assert lv["itl_p50_ms"] is None or 0 <= lv["itl_p50_ms"] < 60_000
        # A real engine would stop at EOS; bench asks it to ignore EOS, so every answer is
        # OSL tokens long and tokens/s = requests/s x OSL.
        assert lv["output_tok_s"] == pytest.approx(lv["requests_per_s"] * OSL, rel=0.05)
        assert lv["output_tok_s_per_unit"] == pytest.approx(lv["output_tok_s"])  # 1 process
        assert lv["output_tok_s_per_user"] > 0


def test_table_json_csv_and_plots_agree(benched) -> None:
    result, out, _ = benched
    rows = table_rows(result.stdout)
    (run,) = json.loads((out / "summary.json").read_text())["runs"]
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(LEVELS)
    for lv in run["levels"]:
        assert rows[(lv["concurrency"], "TTFT p50 ms")] == [number(lv["ttft_p50_ms"])]
        assert rows[(lv["concurrency"], "output tok/s")] == [number(lv["output_tok_s"])]
    for name in PLOTS:
        assert png_size(out / name) == (WIDTH, HEIGHT)
    assert (out / "agg" / "c1" / "profile_export.jsonl").is_file()


def test_nothing_is_left_running(benched) -> None:
    result, out, pids = benched
    assert "'bench-agg' stopped; nothing left running" in result.stderr
    assert left_running(pids) == []
    assert aiperf_processes(out) == []
