"""scripts/test.sh as CI runs it: every tier runs, each ends with one summary line, and the
exit code is non-zero when any tier failed.

The tiers are pointed at a throw-away test file (arguments go to both pytest runs), so this
takes seconds: one test fails in the fast tier, one passes in the real-engine tier.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = """
import pytest

def test_fast_and_broken():
    assert 1 == 2

@pytest.mark.real_engine
def test_real_and_fine():
    pass
"""


def run_test_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/test.sh`` on a file of two tests, with the repository's pytest settings."""
    (tmp_path / "test_two_tiers.py").write_text(TESTS)
    return subprocess.run(
        ["bash", "scripts/test.sh", "-c", "pyproject.toml", "-p", "no:cacheprovider",
         str(tmp_path / "test_two_tiers.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TRTL_TEST_RESULTS": str(tmp_path / "results"), **env},
        timeout=600,
    )  # fmt: skip


def summary(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("test.sh | ")]


def test_a_failing_fast_tier_still_reports_the_real_engine_tier(tmp_path):
    proc = run_test_sh(tmp_path, TRTL_REAL_ENGINE="0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = summary(proc)
    assert lines[0].startswith("test.sh | lint: ")  # whatever the checkout's lint says
    fast = "test.sh | fast tier: FAILED (pytest exit 1): 0 passed, 1 failed, 0 skipped in "
    assert lines[1].startswith(fast), lines
    assert lines[2] == "test.sh | real-engine tier: not run (TRTL_REAL_ENGINE=0)"


@pytest.mark.real_engine
def test_a_failing_fast_tier_does_not_stop_the_real_engine_tier(tmp_path):
    proc = run_test_sh(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = summary(proc)
    assert lines[1].startswith("test.sh | fast tier: FAILED (pytest exit 1): 0 passed, 1 failed")
    assert lines[2].startswith("test.sh | real-engine tier: 1 passed, 0 failed, 0 skipped in ")
