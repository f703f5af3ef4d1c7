"""`trtl up agg --engine vllm`: a real vLLM engine on CPU serves real tokens, and `down` leaves
no process of its tree (EngineCore, Worker, resource tracker) behind.

One deployment for the whole module (a real engine loads for a minute or more); the tests
run in file order and the last one takes it down.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real_engine.helpers import (
    Deployment,
    chat,
    chat_stream,
    collect_tree,
    deployment,
    down,
    left_running,
    metric,
)


@pytest.fixture(scope="module")
def agg(tmp_path_factory: pytest.TempPathFactory, vllm_python: Path, tiny_real_model: Path):
    home = tmp_path_factory.mktemp("vllm-agg-home")
    with deployment("agg", "re-agg", home, vllm_python, tiny_real_model) as dep:
        yield dep


def test_up_is_ready_with_every_process_running(agg: Deployment) -> None:
    assert "is ready after" in agg.up_output
    # `up -d` returns at ready: the model listed and every worker's health check passed
    # (after Dynamo's first canary request, seconds after the listing on CPU).
    state = agg.status()
    assert state["state"] == "ready"
    assert state["engine"] == "vllm"
    assert sorted(p["role"] for p in state["processes"]) == ["frontend", "worker"]
    assert {p["state"] for p in state["processes"]} == {"running"}


def test_worker_tree_holds_the_engine_processes(agg: Deployment) -> None:
    # vLLM forks its engine core (which forks the model worker) and a resource tracker;
    # these are what must not outlive `down`, so the later check is only worth something
    # if they were seen here.
    worker = agg.process("worker-0")["pid"]
    names = set(agg.tree.values())
    assert any("EngineCore" in n for n in names), names
    assert any("Worker" in n for n in names), names
    assert len(agg.tree) >= 5, agg.tree  # supervisor, frontend, worker and its children
    assert worker in agg.tree


def test_chat_returns_real_tokens(agg: Deployment) -> None:
    body = chat(agg, max_tokens=12)
    choice = body["choices"][0]
    assert choice["message"]["content"].strip()
    assert body["usage"]["prompt_tokens"] > 0
    assert 0 < body["usage"]["completion_tokens"] <= 12
    # The tokens were computed by vLLM itself: its engine counted them.
    assert metric(agg, "worker-0", "vllm:generation_tokens_total") >= 1
    assert metric(agg, "worker-0", "vllm:prompt_tokens_total") >= body["usage"]["prompt_tokens"]


def test_greedy_answers_repeat(agg: Deployment) -> None:
    # Real weights, greedy sampling: the same prompt gives the same answer, which random
    # stand-in tokens would not.
    first = chat(agg, prompt="Count to five", max_tokens=10, temperature=0)
    second = chat(agg, prompt="Count to five", max_tokens=10, temperature=0)
    text = first["choices"][0]["message"]["content"]
    assert text and text == second["choices"][0]["message"]["content"]


def test_streaming_chat_returns_real_tokens(agg: Deployment) -> None:
    pieces, usage = chat_stream(agg, max_tokens=12)
    assert len(pieces) >= 2, pieces  # streamed token by token, not in one piece
    assert "".join(pieces).strip()
    assert usage is not None and usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0


def test_down_leaves_no_process_of_any_tree(agg: Deployment) -> None:
    # Children may have been forked after the fixture looked: look again before stopping.
    agg.tree.update(collect_tree(agg.status()))
    result = down(agg)
    assert result.returncode == 0, result.stderr
    assert "nothing left running" in result.stderr
    assert left_running(list(agg.tree)) == []
    assert agg.status()["state"] == "stopped"
