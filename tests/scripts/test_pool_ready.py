"""scripts/pool_ready.py, run as a user would on two `bench_ready.py --raw` files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pool_ready.py"


def raw_run(path: Path, seconds: dict[str, dict[str, list[float]]], commit: str) -> Path:
    run = {"date": "2026-12-03 10:00", "trtl commit": commit, "load average": "0.50, 0.40, 0.30",
           "load at the end": "1.00, 0.80, 0.60", "argv": ["--repeat", "3"]}  # fmt: skip
    path.write_text(json.dumps({"run": run, "seconds": seconds}))
    return path


def test_the_rounds_of_two_runs_are_pooled_into_one_paired_ratio(tmp_path: Path) -> None:
    # trtl takes 1.1 times its round's bare launch in every round, while the machine's
    # speed drifts from round to round: the paired ratio is exactly 1.1 whatever the drift.
    first = raw_run(
        tmp_path / "a.json",
        {"agg": {"trtl": [1.1, 2.2, 0.55], "bare": [1.0, 2.0, 0.5], "bare_same": [1.0, 2.0, 0.5]}},
        "aaaaaaa",
    )
    second = raw_run(
        tmp_path / "b.json",
        {"agg": {"trtl": [3.3, 1.32], "bare": [3.0, 1.2], "bare_same": [3.0, 1.2]}},
        "bbbbbbb",
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "commit aaaaaaa" in done.stdout and "commit bbbbbbb" in done.stdout
    row = next(line.split() for line in done.stdout.splitlines() if line.startswith("agg "))
    # profile, rounds, ratio of medians, paired, interval, A/A paired, A/A interval
    assert row[1] == "5"
    assert row[3] == "1.100" and row[4] == "1.100–1.100"
    assert row[5] == "1.000" and row[6] == "1.000–1.000"


def test_no_file_prints_the_usage_and_fails() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Usage: python scripts/pool_ready.py" in done.stderr
