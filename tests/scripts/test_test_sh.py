"""scripts/test.sh as CI runs it: every tier runs, each ends with one summary line, and the
exit code is non-zero when any tier failed.

The tiers are pointed at a throw-away test file (arguments go to both pytest runs), so this
takes seconds: one test fails in the fast tier, one passes in the real-engine tier.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
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


def run_test_sh(tmp_path: Path, tests: str = TESTS, **env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/test.sh`` on a file of ``tests``, with the repository's pytest settings."""
    (tmp_path / "test_two_tiers.py").write_text(tests)
    proc = start_test_sh(tmp_path, **env)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        stop_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def start_test_sh(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    # A session of its own, so that whatever happens everything it started can be stopped:
    # a timeout on subprocess.run kills bash alone and then waits for its children's pipes.
    return subprocess.Popen(
        ["bash", "scripts/test.sh", "-c", "pyproject.toml", "-p", "no:cacheprovider",
         str(tmp_path / "test_two_tiers.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRTL_TEST_RESULTS": str(tmp_path / "results"), **env},
        start_new_session=True,
    )  # fmt: skip


def stop_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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


SLOW = """
import os
import time
from pathlib import Path

def test_hangs():
    if "MARK" in os.environ:
        Path(os.environ["MARK"]).touch()
    time.sleep(600)
"""


def test_a_hung_test_fails_with_its_limit_instead_of_stalling_the_run(tmp_path):
    proc = run_test_sh(tmp_path, SLOW, TRTL_REAL_ENGINE="0", TRTL_FAST_TEST_LIMIT_S="3")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Timeout (>3.0s)" in proc.stdout + proc.stderr
    fast = "test.sh | fast tier: FAILED (pytest exit 1): 0 passed, 1 failed, 0 skipped in "
    assert summary(proc)[1].startswith(fast), summary(proc)


def test_a_tier_past_its_limit_is_stopped_and_reported(tmp_path):
    proc = run_test_sh(tmp_path, SLOW, TRTL_REAL_ENGINE="0", TRTL_FAST_TIER_LIMIT_S="20")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary(proc)[1].startswith(
        "test.sh | fast tier: FAILED (stopped after its limit of 20s): "
    ), summary(proc)


def test_no_step_runs_past_what_is_left_of_cis_time(tmp_path):
    # 150 s in all, 120 of them kept for the report: the tier gets the 60 s floor, not 1800.
    proc = run_test_sh(tmp_path, SLOW, TRTL_REAL_ENGINE="0", TRTL_CI_BUDGET_S="150")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = summary(proc)
    assert lines[1].startswith("test.sh | fast tier: FAILED (stopped after its limit of 60s): ")
    assert lines[-1].startswith("test.sh | took "), lines
    assert "s of the 150s CI allows: the locked environment " in lines[-1]


def test_ctrl_c_stops_the_tier_and_the_script(tmp_path):
    (tmp_path / "test_two_tiers.py").write_text(SLOW)
    mark = tmp_path / "running"
    proc = start_test_sh(tmp_path, TRTL_REAL_ENGINE="0", MARK=str(mark))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not mark.exists():
            time.sleep(0.2)
        assert mark.exists(), "the test never started"
        os.kill(proc.pid, signal.SIGINT)  # what the terminal sends to test.sh on Ctrl-C
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        stop_group(proc)
    assert proc.returncode == 130, stdout + stderr
    assert "test.sh: interrupted" in stderr
    assert not pytest_running(proc.pid)


def pytest_running(session: int) -> bool:
    """Whether a pytest of this test.sh (its session) still runs."""
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if os.getsid(p.pid) == session and "pytest" in " ".join(p.info["cmdline"] or []):
                return True
    return False
