"""`trtl up` runs DGDs written the way recipes and aiconfigurator write them: a shell-wrapped
disaggregated graph with bash arrays, and an aiconfigurator-style graph whose scripts write
their engine configs with heredocs. The real frontend serves with real mocker workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.up_helpers import chat, trtl, up_detached, wait_ready

WILD = Path(__file__).resolve().parents[1] / "k8s_export" / "data" / "wild"


@pytest.mark.parametrize(
    ("stem", "roles"),
    [
        ("bash_arrays", ["decode", "frontend", "prefill"]),
        ("aiconfigurator_heredoc", ["frontend", "trtllm-decode-worker",
                                    "trtllm-prefill-worker", "trtllm-prefill-worker"]),
    ],
)  # fmt: skip
def test_a_wild_dgd_serves_chat(stem, roles, tiny_model, home, deployments):
    name = f"w-{stem.replace('_', '-')}"
    deployments.append(name)
    state = up_detached(str(WILD / f"{stem}.yaml"), tiny_model, name, home)
    assert chat(state["frontend_url"], state["served_model_name"], stream=True)
    state = wait_ready(name, home)
    assert sorted(p["role"] for p in state["processes"]) == roles
    assert trtl("down", name, home=home).returncode == 0
