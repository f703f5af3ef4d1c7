"""What a user sees of the processes: a calm foreground until ready, and the previous run's logs.

Real ``trtl up`` runs of the Dynamo frontend and mocker. The disaggregated graph's
frontend warns before ready that the tiny model cannot be routed by images (a WARN line
Dynamo prints at every start), among about a hundred INFO lines.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.e2e.up_helpers import foreground, read_until, status, trtl, up_args

INFO = re.compile(r"^\S+\s+\| \S+\s+INFO ")  # "frontend  | 2026-…Z  INFO target: …"
LOUD = re.compile(r"^\S+\s+\| \S+\s+(WARN|ERROR) ")


def test_the_foreground_is_calm_until_ready(tiny_model, home, deployments):
    name = "t-calm"
    deployments.append(name)
    proc = foreground("disagg", tiny_model, name, home)
    before_ready = read_until(proc, "is ready after")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, rest
    assert not [line for line in before_ready if INFO.match(line)], "".join(before_ready)
    assert [line for line in before_ready if LOUD.match(line)], "".join(before_ready)
    # The engine's notes about settings it cannot express: one short line, once.
    notes = [line for line in before_ready if "note:" in line]
    assert len(notes) == 1 and "`trtl plan`" in notes[0], notes
    # Shutdown shows no warning spam of stopping processes.
    assert "Failed to unregister" not in rest and "completed unexpectedly" not in rest, rest
    assert "nothing left running" in rest
    # The log files have every line, INFO included.
    logs = Path(status(name, home)["run_dir"], "logs", "frontend.log").read_text()
    assert " INFO " in logs


def test_the_previous_runs_logs_are_kept(tiny_model, home, deployments):
    name = "t-previous"
    deployments.append(name)
    first = trtl(*up_args("agg", tiny_model, name, "-d"), home=home)
    assert first.returncode == 0, first.stderr
    run_dir = Path(status(name, home)["run_dir"])
    assert trtl("down", name, home=home).returncode == 0
    first_log = (run_dir / "logs" / "worker-0.log").read_text().splitlines()

    second = trtl(*up_args("agg", tiny_model, name, "-d"), home=home)
    assert second.returncode == 0, second.stderr
    shown = trtl("logs", name, "worker-0", "--previous", "-n", "100000", home=home)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"worker-0 | {line}" for line in first_log]
    # The current run's logs are its own.
    current = trtl("logs", name, "worker-0", "-n", "100000", home=home).stdout
    assert current != shown.stdout
    assert trtl("down", name, home=home).returncode == 0


def test_no_previous_run_is_one_sentence(tiny_model, home, deployments):
    name = "t-noprevious"
    deployments.append(name)
    assert trtl(*up_args("agg", tiny_model, name, "-d"), home=home).returncode == 0
    result = trtl("logs", name, "--previous", home=home)
    assert result.returncode != 0
    assert "no logs of a previous run" in result.stderr and "Traceback" not in result.stderr
