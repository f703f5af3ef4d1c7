"""cached_probe answers from the cache only while the interpreter and its packages are unchanged."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from trtl.launcher.checks import python_env
from trtl.launcher.checks.python_env import cache_file, cached_probe


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The interpreters really asked (not answered from the cache)."""
    asked: list[str] = []
    real = python_env.probe_python

    def counting(python, modules=(), distributions=()):
        asked.append(python)
        return real(python, modules, distributions)

    monkeypatch.setattr(python_env, "probe_python", counting)
    return asked


def _python_with(tmp_path: Path, site: Path) -> str:
    """An interpreter (a wrapper) whose sys.path includes ``site``."""
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def _package(site: Path, name: str) -> None:
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text("")


def test_a_positive_answer_is_reused(tmp_path, calls):
    site = tmp_path / "site"
    _package(site, "fakedyn")
    python = _python_with(tmp_path, site)
    first = cached_probe(python, ["fakedyn"])
    second = cached_probe(python, ["fakedyn"])
    assert first.ok and first.modules == {"fakedyn": True}
    assert second.ok and second.modules == {"fakedyn": True}
    assert second.version == first.version == ".".join(map(str, sys.version_info[:3]))
    assert calls == [python]
    assert Path(cache_file()).is_file()


def test_a_negative_answer_is_never_kept(tmp_path, calls):
    site = tmp_path / "site"
    site.mkdir()
    python = _python_with(tmp_path, site)
    assert cached_probe(python, ["fakedyn"]).modules == {"fakedyn": False}
    _package(site, "fakedyn")  # the user installs it
    assert cached_probe(python, ["fakedyn"]).modules == {"fakedyn": True}
    assert calls == [python, python]


def test_removing_the_package_asks_again(tmp_path, calls):
    site = tmp_path / "site"
    _package(site, "fakedyn")
    python = _python_with(tmp_path, site)
    assert cached_probe(python, ["fakedyn"]).modules == {"fakedyn": True}
    (site / "fakedyn" / "__init__.py").unlink()
    (site / "fakedyn").rmdir()
    assert cached_probe(python, ["fakedyn"]).modules == {"fakedyn": False}
    assert calls == [python, python]


def test_another_package_installed_beside_it_asks_again(tmp_path, calls):
    site = tmp_path / "site"
    _package(site, "fakedyn")
    python = _python_with(tmp_path, site)
    cached_probe(python, ["fakedyn"])
    stat = os.stat(site)
    _package(site, "other")  # pip touched site-packages
    os.utime(site, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    cached_probe(python, ["fakedyn"])
    assert calls == [python, python]


def test_a_changed_interpreter_or_environment_asks_again(tmp_path, calls, monkeypatch):
    site = tmp_path / "site"
    _package(site, "fakedyn")
    python = _python_with(tmp_path, site)
    cached_probe(python, ["fakedyn"])
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    cached_probe(python, ["fakedyn"])
    wrapper = Path(python)
    stat = wrapper.stat()
    wrapper.write_text(wrapper.read_text() + "# changed\n")
    os.utime(wrapper, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    cached_probe(python, ["fakedyn"])
    assert calls == [python, python, python]


def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path, calls):
    site = tmp_path / "site"
    _package(site, "fakedyn")
    python = _python_with(tmp_path, site)
    Path(cache_file()).parent.mkdir(parents=True)
    Path(cache_file()).write_text("{not json")
    assert cached_probe(python, ["fakedyn"]).modules == {"fakedyn": True}
    assert isinstance(json.loads(Path(cache_file()).read_text()), dict)
    assert cached_probe(python, ["fakedyn"]).ok
    assert calls == [python]


def test_a_missing_interpreter_is_reported_not_cached(tmp_path, calls):
    missing = str(tmp_path / "nope" / "python")
    probe = cached_probe(missing, ["fakedyn"])
    assert not probe.ok and probe.error == "does not exist"
    assert not Path(cache_file()).exists()
