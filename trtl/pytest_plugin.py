"""The pytest plugin that installing trtl registers: inert until enabled.

It only adds options. With ``--trtl`` (or ini ``trtl = true``) it loads ``trtl.testing``,
whose fixtures start a deployment when a test asks for one.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trtl", "trtl deployments for tests")
    group.addoption("--trtl", action="store_true", help="Enable trtl's deployment fixtures.")
    group.addoption("--trtl-profile", default=None, help="Profile for trtl_deployment.")
    group.addoption("--trtl-engine", default=None, help="Engine for trtl_deployment.")
    group.addoption("--trtl-model", default=None, help="Model for trtl_deployment.")
    parser.addini("trtl", "Enable trtl's deployment fixtures.", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("trtl") or config.getini("trtl"):
        config.pluginmanager.import_plugin("trtl.testing")
