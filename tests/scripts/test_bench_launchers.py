"""scripts/bench_launchers.py: its shell and Python launchers start exactly the processes
they are given (argv, whole environment, output into the log), as the comparison needs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

# Each job writes what it was started with: its argv and its whole environment.
REPORT = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))"


def _module():
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_launchers", SCRIPTS / "bench_launchers.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def _jobs(tmp_path: Path, launcher: str) -> list[tuple[list[str], dict[str, str], str]]:
    # Values a shell would split, expand or quote wrongly, and two different environments.
    return [
        ([sys.executable, "-c", REPORT, "one", "it's $HOME"],
         {"ROLE": "frontend", "SPACED": "a  b", "QUOTE": "'\"`$(x)`"},
         str(tmp_path / f"{launcher}-frontend.log")),
        ([sys.executable, "-c", REPORT, "two"], {"ROLE": "worker", "EMPTY": ""},
         str(tmp_path / f"{launcher}-worker.log")),
    ]  # fmt: skip


def test_both_launchers_start_each_job_with_exactly_its_argv_and_environment(
    tmp_path: Path,
) -> None:
    module = _module()
    for index, launcher in enumerate(("shell", "python")):
        jobs = _jobs(tmp_path, launcher)
        commands = module.write_launchers(tmp_path / launcher, jobs)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / launcher), "LEAK": "no"}
        done = subprocess.run(commands[index], env=env, timeout=60, capture_output=True)
        assert done.returncode == 0, done.stderr
        for argv, job_env, log in jobs:
            seen = json.loads(Path(log).read_text())
            assert seen["argv"] == argv[3:], launcher
            # Nothing of the launcher's own environment: only the job's (Python may add
            # LC_CTYPE when coercing the C locale).
            assert {k: v for k, v in seen["env"].items() if k != "LC_CTYPE"} == job_env, launcher
