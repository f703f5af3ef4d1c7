"""Ports for the workers: too few free ones is a user-facing sentence, not a trtl bug."""

from __future__ import annotations

import pytest
from trtl.launcher.planning import ports
from trtl.profiles.errors import PreflightError


def test_too_few_free_ports_is_a_preflight_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ports, "port_is_free", lambda port, host="127.0.0.1": False)
    with pytest.raises(PreflightError, match=r"only 0 of the 2 ports the workers need are free"):
        ports.free_ports(2, exclude=set())


def test_plan_says_so_in_one_line_and_exits_2(run_trtl, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ports, "port_is_free", lambda port, host="127.0.0.1": False)
    result = run_trtl("plan", "agg", "--engine", "mocker")
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "only 0 of the 1 ports the workers need are free on 127.0.0.1" in result.output
    assert "Stop other deployments" in result.output
