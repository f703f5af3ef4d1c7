"""Lifecycle defects of the adv2 report, with the real frontend and mocker: a `down` that
waited for a wrapper of `trtl up`, a graph grown past the machine's limit by `scale`, a
profile's new frontend port ignored by `apply`, a read-only state directory."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.e2e.up_helpers import (
    deployment_pids,
    read_until,
    trtl,
    trtl_env,
    up_args,
)


def test_down_without_a_name_ignores_a_wrapper_of_trtl_up(tiny_model, home, deployments):
    # adv2 #1: `timeout 200 trtl up …` was counted as a start that had not claimed its
    # name yet: `down` waited 120 s for it to claim one, then failed (exit 1) and left the
    # deployment running.
    name = "t-wrapped"
    deployments.append(name)
    args = up_args("agg", tiny_model, name)
    wrapped = [shutil.which("timeout"), "200", sys.executable, "-m", "trtl.launcher", *args]
    up = subprocess.Popen(
        wrapped, env=trtl_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        read_until(up, "is ready after", timeout=60)
        down = trtl("down", home=home, timeout=90)
        up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert down.returncode == 0, down.stderr
    assert f"'{name}' stopped; nothing left running" in down.stderr, down.stderr
    assert "has not claimed" not in down.stderr
    assert deployment_pids(name) == []
