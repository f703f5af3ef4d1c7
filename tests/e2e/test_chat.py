"""``trtl chat`` against a real Dynamo frontend with a mocker worker, and its failures.

One aggregated graph on the tiny offline model serves the whole module. The failure modes
a real frontend does not produce on demand (an SSE error frame mid-stream, a stream cut
short, 503) are replayed through httpx's MockTransport against ``send_chat`` itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from trtl.launcher.deployments.chat import base_url, send_chat
from trtl.launcher.planning.plan import Plan, PlanOptions, build_plan
from trtl.launcher.planning.ports import free_ports
from trtl.profiles.errors import SupervisorError
from trtl.profiles.loader import load_profile

from tests.e2e.procs import start, stop, wait_listed
from tests.live_state import live_state, save_state

SERVED = "tiny-chat"


@pytest.fixture(scope="module")
def served(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    """A running frontend + mocker on free loopback ports, for every test of this module."""
    home = tmp_path_factory.mktemp("chat-home")
    with pytest.MonkeyPatch.context() as mp:
        # The run dir is private to this module (the per-test dirs come later).
        mp.setenv("XDG_STATE_HOME", str(home / "state"))
        profile = load_profile(
            "agg",
            engine="mocker",
            model=str(tiny_model),
            overrides=["mocker.speedup_ratio=1000", f"served_model_name={SERVED}"],
        )
        port = free_ports(1, exclude=set())[0]
        plan = build_plan(profile, PlanOptions(deployment="e2e-chat", http_port=port))
    procs = start(plan, home)
    try:
        wait_listed(plan, procs)
        yield plan
    finally:
        stop(procs)


# --- the real thing ----------------------------------------------------------------------


def test_chat_streams_an_answer(run_trtl, served):
    result = run_trtl("chat", "--url", served.frontend_url, "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert result.stdout.endswith("\n")
    assert f"model {SERVED}" in result.stderr
    assert "finish " in result.stderr


def test_chat_without_streaming(run_trtl, served):
    result = run_trtl(
        "chat", "--url", served.frontend_url, "--no-stream", "--max-tokens", "8", "hello"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert f"model {SERVED}" in result.stderr


def test_the_answer_arrives_in_pieces(served):
    pieces: list[str] = []
    reply = send_chat(
        served.frontend_url, "hello", system="Be brief.", max_tokens=16, on_text=pieces.append
    )
    assert len(pieces) > 1, "a streamed answer comes in more than one piece"
    assert "".join(pieces) == reply.text
    assert reply.model == SERVED
    assert reply.finish_reason is not None


def test_a_pasted_openai_base_url_works(run_trtl, served):
    bare = served.frontend_url.removeprefix("http://") + "/v1/"
    result = run_trtl("chat", "--url", bare, "--model", SERVED, "--max-tokens", "4", "hi")
    assert result.exit_code == 0, result.output


def test_an_unknown_model_names_the_served_ones(run_trtl, served):
    result = run_trtl("chat", "--url", served.frontend_url, "--model", "nope", "hi")
    assert result.exit_code == 1
    assert (
        f"error: the frontend at {served.frontend_url} serves no model named 'nope' (HTTP 404)."
        in result.stderr
    )
    assert f"Pass --model with one it serves: {SERVED}." in result.stderr
    assert "Traceback" not in result.output


def test_nothing_listening_is_one_sentence(run_trtl):
    port = free_ports(1, exclude=set())[0]
    result = run_trtl("chat", "--url", f"http://127.0.0.1:{port}", "hello")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: nothing listens at http://127.0.0.1:{port}; is the deployment up?",
        "See `trtl status`, or start one with `trtl up`.",
    ]


# --- finding the deployment from its state file ------------------------------------------


def _state(plan: Plan, deployment: str, state: str) -> None:
    save_state(
        live_state(
            deployment,
            state=state,
            frontend_url=plan.frontend_url,
            served_model_name=SERVED,
            started_at=time.time(),
            processes=[],
        )
    )


def test_the_only_running_deployment_is_found(run_trtl, served):
    _state(served, "mine", "ready")
    result = run_trtl("chat", "--max-tokens", "4", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert f"model {SERVED}" in result.stderr


def test_a_named_stopped_deployment_is_refused(run_trtl, served):
    _state(served, "old", "stopped")
    result = run_trtl("chat", "--name", "old", "hello")
    assert result.exit_code == 1
    assert "error: deployment old is stopped." in result.stderr


def test_no_deployment_at_all(run_trtl):
    result = run_trtl("chat", "hello")
    assert result.exit_code == 1
    assert "no deployment is running" in result.stderr


def test_name_and_url_together_is_a_usage_error(run_trtl):
    result = run_trtl("chat", "--name", "a", "--url", "http://127.0.0.1:1", "hi")
    assert result.exit_code == 2
    assert "give one" in result.stderr


# --- what a real frontend will not do on demand ------------------------------------------


def _sse(*frames: str) -> bytes:
    return "".join(f"{frame}\n\n" for frame in frames).encode()


def _chunk(content: str) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": content}}]})


def _frontend(chat: httpx.Response, models: tuple[str, ...] = (SERVED,)) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": m} for m in models]})
        return chat

    return httpx.MockTransport(handle)


def _sse_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


@pytest.mark.parametrize(
    "error_frame",
    [
        'event: error\ndata: {"message": "worker gone"}',
        'data: {"error": {"message": "worker gone", "code": 503}}',
    ],
    ids=["event-error", "error-key"],
)
def test_an_error_frame_mid_stream_ends_with_its_message(error_frame):
    seen: list[str] = []
    body = _sse(_chunk("Hel"), error_frame, "data: [DONE]")
    with pytest.raises(SupervisorError) as info:
        send_chat(
            "http://dynamo", "hi", on_text=seen.append, transport=_frontend(_sse_response(body))
        )
    assert seen == ["Hel"]
    assert info.value.message == (
        "the frontend at http://dynamo ended the stream with an error: worker gone"
    )


def test_a_stream_cut_short_is_an_error():
    body = _sse(_chunk("Hel"), _chunk("lo"))
    with pytest.raises(SupervisorError, match="ended the stream before the answer was finished"):
        send_chat("http://dynamo", "hi", transport=_frontend(_sse_response(body)))


def test_a_stream_with_keepalives_and_usage():
    body = _sse(
        ": keep-alive",
        _chunk("Hel"),
        'data: {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}',
        'data: {"choices": [], "usage": {"completion_tokens": 2}}',
        "data: [DONE]",
    )
    reply = send_chat("http://dynamo", "hi", transport=_frontend(_sse_response(body)))
    assert (reply.text, reply.finish_reason, reply.completion_tokens) == ("Hello", "stop", 2)


def test_not_ready_is_503():
    chat = httpx.Response(503, json={"message": "Service temporarily unavailable"})
    with pytest.raises(SupervisorError) as info:
        send_chat("http://dynamo", "hi", transport=_frontend(chat))
    assert info.value.message == (
        f"the model {SERVED} at http://dynamo is not ready "
        "(HTTP 503: Service temporarily unavailable)."
    )
    assert "trtl status" in info.value.hint


def test_no_model_listed_yet():
    transport = _frontend(httpx.Response(500), models=())
    with pytest.raises(SupervisorError, match="lists no model yet"):
        send_chat("http://dynamo", "hi", transport=transport)


def test_something_else_answering_is_not_a_traceback():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>hi</html>"))
    with pytest.raises(SupervisorError, match="not what a Dynamo frontend sends"):
        send_chat("http://dynamo", "hi", transport=transport)


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        (" https://h/v1 ", "https://h"),
    ],
)
def test_base_url(given, base):
    assert base_url(given) == base
