"""`trtl up disagg --engine vllm`: a real prefill and a real decode engine on CPU, the KV cache
moved from one to the other by NIXL, real tokens out, and nothing left after `down`.

One deployment for the whole module; the tests run in file order and the last one takes
it down.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.e2e.up_helpers import wait_for
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

# vLLM logs its KV transfer statistics every 10 s while there is activity.
TRANSFER_LOG_TIMEOUT_S = 90
# One sample per NIXL transfer on the decode worker's status server.
XFER_COUNT = "vllm:nixl_xfer_time_seconds_count"
# vLLM's periodic line, e.g. "KV Transfer metrics: Num successful transfers=2, Avg xfer time
# (ms)=16.672, ..., Num failed transfers=0, Num KV expired reqs=0".
TRANSFER_LINE = re.compile(
    r"KV Transfer metrics: Num successful transfers=(\d+).*?Num failed transfers=(\d+)"
)


@pytest.fixture(scope="module")
def disagg(tmp_path_factory: pytest.TempPathFactory, vllm_python: Path, tiny_real_model: Path):
    home = tmp_path_factory.mktemp("vllm-disagg-home")
    with deployment("disagg", "re-disagg", home, vllm_python, tiny_real_model) as dep:
        yield dep


def test_up_is_ready_with_prefill_and_decode_running(disagg: Deployment) -> None:
    assert "is ready after" in disagg.up_output
    # `up -d` returns at ready: the model listed and every worker's health check passed
    # (after Dynamo's first canary request, seconds after the listing on CPU).
    state = disagg.status()
    assert state["state"] == "ready"
    assert state["engine"] == "vllm"
    assert sorted(p["name"] for p in state["processes"]) == ["decode-0", "frontend", "prefill-0"]
    assert {p["state"] for p in state["processes"]} == {"running"}
    names = list(disagg.tree.values())
    assert sum("EngineCore" in n for n in names) == 2, names  # one engine per role


def test_chat_returns_real_tokens(disagg: Deployment) -> None:
    body = chat(disagg, max_tokens=12)
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["prompt_tokens"] > 0
    assert 0 < body["usage"]["completion_tokens"] <= 12


def test_streaming_chat_returns_real_tokens(disagg: Deployment) -> None:
    pieces, usage = chat_stream(disagg, max_tokens=12)
    assert len(pieces) >= 2, pieces
    assert "".join(pieces).strip()
    assert usage is not None and usage["completion_tokens"] > 0


def test_kv_cache_moves_from_prefill_to_decode(disagg: Deployment) -> None:
    before = metric(disagg, "decode-0", XFER_COUNT)
    # A prompt never seen, so no prefix cache can stand in for the transfer.
    body = chat(disagg, prompt=f"Tell me about {uuid.uuid4().hex}", max_tokens=8)
    assert body["choices"][0]["message"]["content"].strip()
    # The prompt was computed by the prefill engine, and its KV blocks pulled by the decoder.
    assert metric(disagg, "prefill-0", "vllm:prompt_tokens_total") > 0
    assert metric(disagg, "decode-0", XFER_COUNT) > before

    # What a user reading the decode worker's log sees: successful transfers, no failures.
    log = Path(disagg.process("decode-0")["log"])

    def transfers() -> tuple[int, int] | None:
        found = TRANSFER_LINE.findall(log.read_text(errors="replace"))
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    ok, failed = wait_for(transfers, TRANSFER_LOG_TIMEOUT_S, interval=1.0)
    assert ok >= 1 and failed == 0, (ok, failed)


def test_down_leaves_no_process_of_any_tree(disagg: Deployment) -> None:
    disagg.tree.update(collect_tree(disagg.status()))
    result = down(disagg)
    assert result.returncode == 0, result.stderr
    assert "nothing left running" in result.stderr
    assert left_running(list(disagg.tree)) == []
    assert disagg.status()["state"] == "stopped"
