"""pytest fixtures that give a test a live OpenAI endpoint served by a trtl deployment.

Enable them in one of three ways:

- import them into a test module or conftest: ``from trtl.testing import trtl_deployment``;
- ``pytest -p trtl.testing``, or ``pytest_plugins = ["trtl.testing"]`` in a conftest;
- ``pytest --trtl`` (or ``trtl = true`` under ``[tool.pytest.ini_options]``), through the
  plugin that installing trtl registers (``trtl.pytest_plugin``, inert until enabled).

What runs comes from, in order: indirect parametrisation
(``@pytest.mark.parametrize("trtl_deployment", ["agg", {"profile": "disagg"}],
indirect=True)``), the ``--trtl-profile/--trtl-engine/--trtl-model`` options, the
``TRTL_PROFILE/TRTL_ENGINE/TRTL_MODEL`` environment variables, then ``agg`` on the mocker
with the profile's model. Each fixture instance gets a free port and a deployment name of
its own (``agg-pytest-PID-N``) unless one is given, so fixtures of one session, xdist
workers and sessions side by side never collide. The graph is started once per session
(``trtl_deployment``) or per module (``trtl_module_deployment``) and always stopped at the
end, also when the test process ends abruptly (``trtl.up`` ties the graph to it). Their
state and logs (``trtl logs NAME``) stay until the next session starts.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

import trtl

DEFAULTS = {"profile": "agg", "engine": "mocker", "model": None}
_INSTANCES = itertools.count(1)  # fixture instances started by this process
_FIXTURE_NAME = re.compile(r".+-pytest-(\d+)-\d+")  # what unique_name makes


def deployment_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keyword arguments for ``trtl.up`` that this fixture request asks for."""
    options: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = request.config.getoption(f"trtl_{key}", None) or os.environ.get(
            f"TRTL_{key.upper()}"
        )
        options[key] = value or default
    param = getattr(request, "param", None)
    if isinstance(param, str):
        options["profile"] = param
    elif isinstance(param, dict):
        options.update(param)
    if options.get("port") is None:
        from trtl.launcher.planning.ports import free_ports

        options["port"] = free_ports(1, exclude=set())[0]
    if options.get("name") is None:
        options["name"] = unique_name(options["profile"])
    return options


def unique_name(profile: object) -> str:
    """A deployment name no other fixture instance uses while this process runs: the
    profile's (for ``trtl ps``), this process's pid and a count, within the 40 characters
    a deployment name may have."""
    suffix = f"-pytest-{os.getpid()}-{next(_INSTANCES)}"
    base = profile.get("name", "") if isinstance(profile, dict) else getattr(profile, "name", "")
    if isinstance(profile, (str, os.PathLike)):
        base = os.path.splitext(os.path.basename(os.fspath(profile)))[0]
    from trtl.profiles.names import MAX_NAME_LENGTH, name_from

    base = name_from(str(base)) or "trtl"
    return base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-_") + suffix


@functools.cache  # once per test process
def forget_ended_sessions() -> None:
    """Remove the state and logs of fixture deployments whose test process has ended, so
    that ``trtl ps --all`` and the disk do not gain one per session: a session's logs are
    kept until the next session starts."""
    import psutil

    from trtl.launcher.deployments.forget import forget_deployment
    from trtl.launcher.deployments.paths import state_home

    home = state_home()
    for name in sorted(os.listdir(home)) if home.is_dir() else []:
        match = _FIXTURE_NAME.fullmatch(name)
        if match and not psutil.pid_exists(int(match.group(1))):
            with contextlib.suppress(trtl.TrtlError, OSError):  # one still running stays
                forget_deployment(name)


def _start(request: pytest.FixtureRequest) -> Iterator[trtl.Deployment]:
    forget_ended_sessions()
    options = deployment_options(request)
    profile = options.pop("profile")
    with trtl.up(profile, **options) as deployment:
        yield deployment


@pytest.fixture(scope="session")
def trtl_deployment(request: pytest.FixtureRequest) -> Iterator[trtl.Deployment]:
    """A running deployment shared by the whole session; ``.url`` is its OpenAI base URL."""
    yield from _start(request)


@pytest.fixture(scope="module")
def trtl_module_deployment(request: pytest.FixtureRequest) -> Iterator[trtl.Deployment]:
    """A running deployment for one test module, stopped when the module's tests end."""
    yield from _start(request)
