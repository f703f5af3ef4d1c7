"""Bounded work: a graph the machine cannot hold, and oversized input files, are refused
before anything starts or is parsed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trtl.launcher.deployments.paths import RunDir
from trtl.launcher.planning.limits import MAX_PROCESSES, process_limit


def test_the_limit_is_the_smallest_of_maximum_cores_and_memory():
    assert process_limit(cores=2, available_mib=64_000) == (16, "8 per CPU core, 2 cores")
    assert process_limit(cores=64, available_mib=1024)[0] == 4
    assert process_limit(cores=1000, available_mib=10**7)[0] == MAX_PROCESSES


def test_a_graph_beyond_the_stated_maximum_is_refused_by_plan(run_trtl, tmp_path: Path):
    # Before: a 1,000-component graph started 1,002 processes on 2 cores.
    wide = tmp_path / "wide.yaml"
    wide.write_text(
        "name: wide\nextends: agg\nworkers:\n"
        "  w0: {mode: agg, replicas: 64}\n  w1: {mode: agg, replicas: 64}\n"
    )
    result = run_trtl("plan", str(wide), "--engine", "mocker")
    assert result.exit_code == 2, result.output
    assert "'wide' has 130 processes; this machine runs at most 128" in result.output
    assert "workers.ROLE.replicas" in result.output


def test_up_refuses_a_graph_beyond_the_cores_before_anything_starts(
    run_trtl, tiny_model, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    args = ["up", "agg", "--engine", "mocker", "--model", str(tiny_model), "--name", "big"]
    result = run_trtl(*args, "--set", "workers.worker.replicas=20")
    assert result.exit_code == 2, result.output
    assert "'agg' has 21 processes; this machine runs at most 16 (8 per CPU core, 2 cores)" in (
        result.output
    )
    run_dir = RunDir.for_deployment("big")
    assert not (run_dir.root / "state.json").exists() and not run_dir.logs.exists()


@pytest.mark.parametrize("kind", ["profile", "dgd"])
def test_an_oversized_input_file_is_refused_before_parsing(run_trtl, tmp_path: Path, kind):
    # Before: a 25 MB profile took 36 s and 665 MB before failing with a misleading message.
    path = tmp_path / "big.yaml"
    head = "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\n" if kind == "dgd" else ""
    path.write_text(head + "# padding\n" * 300_000)
    for command in (["plan", str(path)], ["export", "--k8s", str(path)]):
        result = run_trtl(*command)
        assert result.exit_code == 2, result.output
        assert f"{path} is larger than 1024 KiB" in result.output
        assert "is it the right file?" in result.output
