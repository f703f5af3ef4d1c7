"""Ctrl-C before a command handles it: one line and exit 130, never a traceback
through the imports nor click's bare "Aborted!" with exit 1.

The Ctrl-C comes at a fixed point: the real SIGINT, sent by the trtl process to itself as a
given module is first imported (a meta-path hook), so no test depends on timing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# SIGINT as in a terminal (a background job, as CI may run the tests, ignores it).
_INTERRUPT_AT = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
AT = sys.argv[1]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["trtl", *sys.argv[2:]]
from trtl.launcher.__main__ import main
main()
"""


def _interrupted(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _INTERRUPT_AT, module, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("click", ("ps",)),  # while the command line is imported: was a traceback
        ("trtl.launcher.cli.ps", ("ps",)),  # while the command is loaded: was "Aborted!", 1
        ("trtl.launcher.planning.plan", ("plan", "agg", "--engine", "mocker")),
    ],
)
def test_ctrl_c_before_a_command_handles_it_is_one_line_and_130(module, args):
    result = _interrupted(module, *args)
    assert (result.returncode, result.stderr) == (130, "interrupted (Ctrl-C)\n"), result
    assert result.stdout == ""


def test_ctrl_c_while_up_checks_starts_nothing_and_leaves_the_name_free(tiny_model):
    from trtl.launcher.deployments.lock import DeploymentLock
    from trtl.launcher.deployments.paths import RunDir

    result = _interrupted(
        "trtl.launcher.checks.preflight",
        *("up", "agg", "--engine", "mocker", "--model", str(tiny_model), "--name", "t-cc"),
    )
    assert (result.returncode, result.stderr) == (130, "interrupted (Ctrl-C)\n"), result
    assert DeploymentLock(RunDir.for_deployment("t-cc")).holder() is None
