"""``trtl bench`` without processes: the aiperf command line, reading its results, the table,
and the loop's promises (finished levels are kept, started graphs are stopped) replayed
with a stand-in for aiperf. The real thing runs in tests/e2e/test_bench.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from trtl.launcher.bench import session as session_module
from trtl.launcher.bench.errors import BenchError
from trtl.launcher.bench.figures import AIPERF_JSON, read_level
from trtl.launcher.bench.gpu_samples import GpuSampler
from trtl.launcher.bench.loadgen import aiperf_env, failure_reason, require_aiperf
from trtl.launcher.bench.session import BenchSession, Reporter
from trtl.launcher.bench.summary import BenchRun, BenchSummary, read_summary, write_summary
from trtl.launcher.bench.table import number, rows
from trtl.launcher.bench.targets import Target
from trtl.launcher.bench.workload import Workload, aiperf_args, make_workload, parse_concurrency
from trtl.profiles.errors import PreflightError


def aiperf_json(ttft: float = 50.0, tok_s: float = 200.0, errors: int = 0) -> dict:
    """The part of aiperf 0.13's profile_export_aiperf.json that trtl reads."""
    return {
        "request_count": {"avg": 10.0},
        "error_request_count": {"avg": float(errors)},
        "time_to_first_token": {"p50": ttft, "p90": ttft * 1.2, "p99": ttft * 1.5},
        "inter_token_latency": {"p50": 5.0, "p99": 7.0},
        "request_throughput": {"avg": tok_s / 16},
        "output_token_throughput": {"avg": tok_s},
        "output_token_throughput_per_user": {"avg": 900.0, "p50": 190.0},
        "benchmark_duration": {"avg": 1.5},
    }


# --- workload and the aiperf command line -------------------------------------------------


def test_concurrency_list_is_checked() -> None:
    assert parse_concurrency("1,2,8") == (1, 2, 8)
    for bad in ("0,1", "1,1", "a", "", "1,,2"):
        with pytest.raises(BenchError, match="--concurrency"):
            parse_concurrency(bad)


def test_defaults_scale_to_the_machine() -> None:
    gpu = make_workload(has_gpus=True)
    cpu = make_workload(has_gpus=False)
    assert (gpu.isl, gpu.osl) == (3000, 150) and gpu.concurrency[-1] == 64
    assert cpu.isl < gpu.isl and cpu.concurrency == (1, 2, 4, 8)
    assert make_workload(has_gpus=False, concurrency="3", isl=7).concurrency == (3,)


def test_aiperf_runs_offline_on_the_models_own_tokenizer(tmp_path: Path) -> None:
    args = aiperf_args(
        Workload(isl=32, osl=8, concurrency=(4,)),
        4,
        url="http://127.0.0.1:8000",
        model="m",
        tokenizer="/models/m",
        artifact_dir=tmp_path,
    )
    assert args[0] == "profile"
    assert args[args.index("--tokenizer") + 1] == "/models/m" and "builtin" not in args
    assert args[args.index("--request-count") + 1] == "40"  # 10 x the concurrency
    assert args[args.index("--warmup-request-count") + 1] == "4"
    assert args[args.index("--osl") + 1] == "8"
    assert "ignore_eos:true" in args and "--streaming" in args
    assert "--use-server-token-count" in args  # the engine's own count of its tokens


def test_a_dataset_replaces_synthetic_prompts(tmp_path: Path) -> None:
    data = tmp_path / "trace.jsonl"
    data.write_text("{}\n")
    workload = make_workload(has_gpus=False, input_file=str(data), dataset_type="mooncake_trace")
    args = aiperf_args(workload, 1, url="u", model="m", tokenizer="t", artifact_dir=tmp_path)
    assert args[args.index("--input-file") + 1] == str(data)
    assert "--isl" not in args and "mooncake_trace" in args
    with pytest.raises(BenchError, match="does not exist"):
        make_workload(has_gpus=False, input_file=str(tmp_path / "missing"))


def test_aiperf_gets_no_hf_offline_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE" not in aiperf_env()


def test_missing_aiperf_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, run_trtl) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aiperf" else real(name, *a)
    )
    with pytest.raises(BenchError) as caught:
        require_aiperf()
    assert "pip install 'trtl[bench]'" in (caught.value.hint or "")
    result = run_trtl("bench", "agg", "--engine", "mocker")
    assert result.exit_code == 2
    assert "aiperf" in result.stderr and "pip install 'trtl[bench]'" in result.stderr


def test_aiperf_failure_reason_is_its_own(tmp_path: Path) -> None:
    log = tmp_path / "aiperf.log"
    log.write_text(
        "14:28:21.779 ERROR    All 2 inference request(s) failed.\n"
        "╭─ AIPerf System Exit Errors ───╮\n"
        "│    Reason: All 2 inference request(s) failed. No successful  │\n"
        "│            responses were collected.                        │\n"
        "│                                                              │\n"
        "╰──────────────────────────────╯\n"
    )
    assert failure_reason(log) == (
        "All 2 inference request(s) failed. No successful responses were collected."
    )


# --- figures, summary, table --------------------------------------------------------------


def test_level_figures_come_from_aiperf_json(tmp_path: Path) -> None:
    (tmp_path / AIPERF_JSON).write_text(json.dumps(aiperf_json(tok_s=300.0, errors=2)))
    level = read_level(tmp_path, 4, units=2)
    assert level.concurrency == 4 and level.requests == 10 and level.errors == 2
    assert level.ttft_p50_ms == 50.0 and level.itl_p99_ms == 7.0
    assert level.output_tok_s_per_unit == 150.0  # per GPU: trtl's placement, not aiperf's
    assert level.output_tok_s_per_user == 190.0  # the median request
    assert read_level(tmp_path, 4, units=None).output_tok_s_per_unit is None
    with pytest.raises(BenchError, match="no readable results"):
        read_level(tmp_path / "missing", 1, units=1)


def test_no_inter_token_latency_is_shown_as_none_not_zero(tmp_path: Path) -> None:
    # aiperf leaves the figure out when every answer came in one chunk.
    data = aiperf_json()
    del data["inter_token_latency"]
    (tmp_path / AIPERF_JSON).write_text(json.dumps(data))
    level = read_level(tmp_path, 1, units=1)
    assert level.itl_p50_ms is None and level.itl_p99_ms is None
    assert level.ttft_p50_ms == 50.0
    assert number(level.itl_p50_ms) == "-"


def test_errors_fall_back_to_the_error_summary(tmp_path: Path) -> None:
    data = aiperf_json()
    del data["error_request_count"]
    data["error_summary"] = [{"error_details": {"code": 404}, "count": 3}]
    (tmp_path / AIPERF_JSON).write_text(json.dumps(data))
    assert read_level(tmp_path, 1, units=1).errors == 3


def two_runs(tmp_path: Path) -> BenchSummary:
    summary = BenchSummary(Workload(isl=32, osl=16, concurrency=(1,)))
    for label, ttft, tok_s in (("agg", 40.0, 100.0), ("disagg", 60.0, 250.0)):
        (tmp_path / label).mkdir(parents=True)
        (tmp_path / label / AIPERF_JSON).write_text(json.dumps(aiperf_json(ttft, tok_s)))
        run = BenchRun(label=label, url="u", model="m", workers=1)
        run.levels.append(read_level(tmp_path / label, 1, units=1))
        summary.runs.append(run)
    return summary


def test_table_marks_the_better_and_gives_ratios(tmp_path: Path) -> None:
    table = {label: cells for _, label, cells in rows(two_runs(tmp_path))}
    assert table["TTFT p50 ms"] == ["40.0*", "60.0", "1.50x"]
    assert table["output tok/s"] == ["100", "250*", "2.50x"]
    assert table["tok/s per process"] == ["100", "250*", "2.50x"]
    assert table["errors"] == ["0", "0", "-"]  # a tie marks nobody
    assert "GPU util mean %" not in table  # no GPU samples: no GPU rows
    plain = {label: cells for _, label, cells in rows(two_runs(tmp_path / "x"), compare=False)}
    assert plain["TTFT p50 ms"] == ["40.0", "60.0"]


def test_numbers_keep_three_or_four_digits() -> None:
    assert [number(v) for v in (1234.5, 56.78, 3.14159, 0, None)] == [
        "1234", "56.8", "3.14", "0", "-",
    ]  # fmt: skip


def test_summary_round_trips(tmp_path: Path) -> None:
    summary = two_runs(tmp_path)
    write_summary(tmp_path, summary)
    again = read_summary(tmp_path)
    assert again.to_json() == summary.to_json()
    assert (tmp_path / "summary.csv").read_text().count("\n") == 3
    with pytest.raises(BenchError, match="holds no trtl bench result"):
        read_summary(tmp_path / "nothing")


def test_gpu_sampler_keeps_the_graphs_gpus() -> None:
    readings = iter([[(0, 50, 1000), (1, 90, 2000)], [(0, 70, 1500), (1, 10, 9000)]])
    sampler = GpuSampler([0], read=lambda: next(readings))
    sampler.sample()
    sampler.sample()
    assert sampler.summary() == {"gpu_util_mean": 60.0, "gpu_util_max": 70.0,
                                 "gpu_mem_max_mib": 1500}  # fmt: skip
    assert GpuSampler([]).summary()["gpu_util_mean"] is None


# --- the loop: finished levels kept, started graphs stopped ---------------------------------


class FakeSession(BenchSession):
    """The loop with stand-ins for starting, stopping and checking graphs."""

    events: list[str]

    def _preflight(self, target: Target) -> None:
        self.events.append(f"preflight {target.label}")

    def _start(self, target: Target, on_spawned) -> None:
        self.events.append(f"start {target.label}")
        on_spawned()  # its supervisor runs: from here bench stops it

    def _stop(self, target: Target) -> None:
        self.events.append(f"stop {target.label}")


def fake_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome) -> FakeSession:
    """Two graphs bench starts, levels 1, 2, 4; ``outcome(label, concurrency)`` plays aiperf."""
    monkeypatch.setattr(session_module, "check_serving", lambda target: None)

    def fake_aiperf(args: list[str], artifact_dir: Path, **_) -> None:
        label, level = artifact_dir.parent.name, int(artifact_dir.name[1:])
        outcome(label, level)
        artifact_dir.mkdir(parents=True, exist_ok=True)
        (artifact_dir / AIPERF_JSON).write_text(json.dumps(aiperf_json()))

    monkeypatch.setattr(session_module, "run_aiperf", fake_aiperf)
    plan = SimpleNamespace(profile=None, to_json=lambda: {})
    targets = [
        Target(label=label, url="u", model="m", tokenizer="t", workers=1, plan=plan)
        for label in ("agg", "disagg")
    ]
    session = FakeSession(
        targets,
        Workload(isl=8, osl=8, concurrency=(1, 2, 4)),
        tmp_path / "out",
        Reporter(say=lambda text: None),
        {"machine": "test"},
    )
    session.events = []
    monkeypatch.setattr(FakeSession, "_record", lambda self, target, graph_dir: None)
    return session


def test_a_sweep_failing_halfway_keeps_the_finished_levels(tmp_path, monkeypatch) -> None:
    def outcome(label: str, level: int) -> None:
        if label == "agg" and level == 4:
            raise BenchError("aiperf failed (exit code 1): All 40 inference request(s) failed")

    session = fake_session(tmp_path, monkeypatch, outcome)
    summary = session.run()
    agg, disagg = summary.runs
    assert [lv.concurrency for lv in agg.levels] == [1, 2]
    assert agg.error and "All 40 inference" in agg.error
    assert [lv.concurrency for lv in disagg.levels] == [1, 2, 4]  # the next graph still ran
    assert not summary.complete
    assert session.events == [
        "preflight agg", "start agg", "stop agg",
        "preflight disagg", "start disagg", "stop disagg",
    ]  # fmt: skip
    stored = read_summary(session.directory)
    assert [lv.concurrency for lv in stored.runs[0].levels] == [1, 2]


def test_ctrl_c_stops_the_graph_and_keeps_what_finished(tmp_path, monkeypatch) -> None:
    def outcome(label: str, level: int) -> None:
        if level == 2:
            raise KeyboardInterrupt

    session = fake_session(tmp_path, monkeypatch, outcome)
    with pytest.raises(KeyboardInterrupt):
        session.run()
    assert session.events == ["preflight agg", "start agg", "stop agg"]
    stored = read_summary(session.directory)
    assert stored.interrupted and not stored.complete
    assert [lv.concurrency for lv in stored.runs[0].levels] == [1]


def test_a_failed_preflight_stops_nothing(tmp_path, monkeypatch) -> None:
    session = fake_session(tmp_path, monkeypatch, lambda label, level: None)

    def refuse(target: Target) -> None:
        raise BenchError(f"deployment 'bench-{target.label}' is already running.")

    monkeypatch.setattr(session, "_preflight", refuse)
    summary = session.run()
    assert all(run.error and "already running" in run.error for run in summary.runs)
    assert session.events == []  # not ours to stop


def test_a_name_taken_by_another_start_at_the_claim_is_not_stopped(tmp_path, monkeypatch) -> None:
    # Before: bench counted a graph as its own before the claim; another start that took the
    # name between bench's check and its claim had its graph stopped by bench.
    def refused(self, target: Target, on_spawned) -> None:
        self.events.append(f"start {target.label}")
        if target.label == "agg":
            raise PreflightError("deployment 'bench-agg' is already running (supervisor pid 1).")
        on_spawned()

    monkeypatch.setattr(FakeSession, "_start", refused)
    session = fake_session(tmp_path, monkeypatch, lambda label, level: None)
    summary = session.run()
    assert summary.runs[0].error and "already running" in summary.runs[0].error
    assert session.events == [
        "preflight agg", "start agg",
        "preflight disagg", "start disagg", "stop disagg",
    ]  # fmt: skip
