"""The scripts' shared set-up (scripts/_bootstrap.sh) prints no warning of uv's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_help_prints_no_uv_warning():
    env = {k: v for k, v in os.environ.items() if k not in ("UV_NATIVE_TLS", "UV_SYSTEM_CERTS")}
    done = subprocess.run(
        ["bash", "scripts/demo.sh", "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Usage: trtl up" in done.stdout
    assert "deprecated" not in done.stderr and "warning" not in done.stderr.lower(), done.stderr
