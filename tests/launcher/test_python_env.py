"""probe_python asks real interpreters, and never raises for ones that are not."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from trtl.launcher.checks.python_env import PythonProbe, probe_python

VENV_PYTHON = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python")


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_the_dev_venv_has_dynamo_but_not_tensorrt_llm():
    probe = probe_python(
        VENV_PYTHON,
        ["dynamo.frontend", "dynamo.mocker", "tensorrt_llm", "no_such_pkg.sub"],
        ["ai-dynamo", "no-such-dist"],
    )
    assert probe.ok, probe.error
    assert probe.error is None
    assert probe.python == VENV_PYTHON
    assert probe.version == ".".join(map(str, sys.version_info[:3]))
    assert probe.modules == {
        "dynamo.frontend": True,
        "dynamo.mocker": True,
        "tensorrt_llm": False,
        "no_such_pkg.sub": False,
    }
    assert probe.distributions["ai-dynamo"] == "1.6.1"
    assert probe.distributions["no-such-dist"] is None
    assert any(r.startswith("ai-dynamo-runtime") for r in probe.requires["ai-dynamo"])
    assert "no-such-dist" not in probe.requires


def test_find_spec_does_not_import_the_module(tmp_path):
    # A module whose import has a side effect: finding it must not run it.
    (tmp_path / "boom.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    wrapper = _script(tmp_path, "python", f'PYTHONPATH={tmp_path} exec {sys.executable} "$@"')
    probe = probe_python(wrapper, ["boom"])
    assert probe.ok and probe.modules == {"boom": True}
    assert not (tmp_path / "ran").exists()


def test_a_broken_parent_package_means_not_importable(tmp_path):
    pkg = tmp_path / "brokenpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('broken on import')\n")
    (pkg / "sub.py").write_text("")
    wrapper = _script(tmp_path, "python", f'PYTHONPATH={tmp_path} exec {sys.executable} "$@"')
    probe = probe_python(wrapper, ["brokenpkg.sub"])
    assert probe.ok and probe.modules == {"brokenpkg.sub": False}


def test_a_name_on_path_is_found(tmp_path, monkeypatch):
    _script(tmp_path, "mypython", f'exec {sys.executable} "$@"')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert probe_python("mypython").ok


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda tmp: str(tmp / "missing" / "python"), "does not exist"),
        (lambda tmp: "no-such-python-on-path", "is not on PATH"),
        (lambda tmp: str(tmp), "is a directory, not an interpreter"),
        (lambda tmp: _plain_file(tmp), "is not executable"),
        (lambda tmp: _script(tmp, "python", "exit 3"), "exit 3"),
        # Echoes its arguments, the probe's query included: still not an answer.
        (lambda tmp: _script(tmp, "python", 'echo "$@"'), "not run the probe like a Python"),
        (lambda tmp: _script(tmp, "python", 'echo \'{"version": "3"}\''), "Python 3"),
    ],
    ids=["missing", "not-on-path", "directory", "not-executable", "fails", "echo", "json-liar"],
)
def test_what_is_not_a_python_gives_ok_false_and_a_reason(tmp_path, make, error):
    python = make(tmp_path)
    probe = probe_python(python, ["dynamo.mocker"], ["ai-dynamo"])
    assert probe == PythonProbe(python=python, ok=False, error=probe.error)
    assert error in probe.error


def _plain_file(tmp: Path) -> str:
    path = tmp / "python"
    path.write_text("")
    return str(path)


def test_the_probe_is_frozen():
    probe = probe_python(sys.executable)
    with pytest.raises(AttributeError):
        probe.ok = False  # type: ignore[misc]
