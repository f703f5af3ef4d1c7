"""One chat completion against a running frontend: ``trtl chat``'s engine room.

``send_chat`` posts an OpenAI chat request to a Dynamo frontend and hands the answer to
``on_text`` as it arrives (server-sent events), or in one piece without streaming. Every
way it can fail, from a closed port to an SSE error frame in the middle of a stream, ends
as one ``SupervisorError`` sentence that says what the deployment did and where to look.
It knows nothing of deployments or state: the command finds the URL and model.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trtl.profiles.errors import SupervisorError

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT = 5.0
# A real engine may take a while for the first token of a long prompt; the mocker is instant.
READ_TIMEOUT = 120.0


@dataclass(frozen=True)
class ChatReply:
    """What came back: the whole text, why it stopped, and how long it took."""

    model: str
    text: str
    finish_reason: str | None
    completion_tokens: int | None
    seconds: float


def base_url(url: str) -> str:
    """``http://host:port`` from what people paste: no scheme, a trailing ``/`` or ``/v1``."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url[: -len("/v1")] if url.endswith("/v1") else url


def chat_body(
    prompt: str, *, model: str, max_tokens: int = 64, system: str | None = None, stream: bool = True
) -> dict[str, Any]:
    """The OpenAI chat-completions request body."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def send_chat(
    url: str,
    prompt: str,
    *,
    model: str | None = None,
    max_tokens: int = 64,
    system: str | None = None,
    stream: bool = True,
    on_text: Callable[[str], None] = lambda _: None,
    transport: httpx.BaseTransport | None = None,
) -> ChatReply:
    """Send one chat to the frontend at ``url``; ``model`` defaults to the first it lists.

    Raises SupervisorError for every failure: nothing listening, not ready, unknown model,
    HTTP errors, and error frames in the stream.
    """
    import httpx

    url = base_url(url)
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    with httpx.Client(timeout=timeout, transport=transport) as client, _translated(url):
        model = model or _first_model(client, url)
        body = chat_body(prompt, model=model, max_tokens=max_tokens, system=system, stream=stream)
        started = time.monotonic()
        if stream:
            text, finish, tokens = _streamed(client, url, body, on_text)
        else:
            text, finish, tokens = _whole(client, url, body, on_text)
        return ChatReply(model, text, finish, tokens, time.monotonic() - started)


def served_models(url: str, *, transport: httpx.BaseTransport | None = None) -> list[str]:
    """The model names the frontend at ``url`` lists now. Raises SupervisorError."""
    import httpx

    url = base_url(url)
    with httpx.Client(timeout=CONNECT_TIMEOUT, transport=transport) as client, _translated(url):
        return _models(client, url)


def _models(client: httpx.Client, url: str) -> list[str]:
    response = client.get(f"{url}/v1/models")
    _check(response, url, None, client)
    data = response.json()
    if not isinstance(data, dict) or not isinstance(data.get("data", []), list):
        raise ValueError("/v1/models is not a model list")
    return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]


def _first_model(client: httpx.Client, url: str) -> str:
    models = _models(client, url)
    if not models:
        raise SupervisorError(
            f"the frontend at {url} lists no model yet.",
            hint="Wait until `trtl status` shows the deployment ready, then try again.",
        )
    return models[0]


def _whole(client: httpx.Client, url: str, body: dict, on_text: Callable[[str], None]):
    response = client.post(f"{url}/v1/chat/completions", json=body)
    _check(response, url, body["model"], client)
    data = response.json()
    choice = (data.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    on_text(text)
    return text, choice.get("finish_reason"), (data.get("usage") or {}).get("completion_tokens")


def _streamed(client: httpx.Client, url: str, body: dict, on_text: Callable[[str], None]):
    parts: list[str] = []
    finish, tokens, done = None, None, False
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        if response.status_code >= 400:
            response.read()
        _check(response, url, body["model"], client)
        for event, data in _sse_events(response.iter_lines()):
            if data == "[DONE]":
                done = True
                break
            chunk = _chunk(event, data, url)
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
                    on_text(piece)
                finish = choice.get("finish_reason") or finish
            tokens = (chunk.get("usage") or {}).get("completion_tokens", tokens)
    if not done and finish is None:
        raise SupervisorError(
            f"the frontend at {url} ended the stream before the answer was finished.",
            hint="A worker may have stopped: see `trtl status` and `trtl logs`.",
        )
    return "".join(parts), finish, tokens


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, str]]:
    """(event, data) per server-sent event; data lines of one event are joined by newlines."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            continue  # a comment (keep-alive)
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _chunk(event: str | None, data: str, url: str) -> dict[str, Any]:
    """One parsed stream chunk; an error frame (``event: error`` or an ``error`` key) raises."""
    try:
        chunk = json.loads(data)
    except ValueError:
        chunk = None
    if event == "error" or not isinstance(chunk, dict) or "error" in chunk:
        detail = _detail(chunk) if isinstance(chunk, dict) else data.strip()
        raise SupervisorError(
            f"the frontend at {url} ended the stream with an error: {detail[:300]}",
            hint="A worker may have stopped or failed: see `trtl status` and `trtl logs`.",
        )
    return chunk


def _check(response: httpx.Response, url: str, model: str | None, client: httpx.Client) -> None:
    """Raise SupervisorError for an HTTP error answer, saying what it means for Dynamo."""
    code = response.status_code
    if code < 400:
        return
    try:
        detail = _detail(response.json())
    except ValueError:
        detail = response.text.strip()
    detail = detail[:300] or response.reason_phrase
    if code == 503:
        raise SupervisorError(
            f"the model {model} at {url} is not ready (HTTP 503: {detail}).",
            hint="Wait until `trtl status` shows the deployment ready; a disaggregated graph "
            "needs both its prefill and decode workers.",
        )
    if code == 404 and model is not None:
        raise SupervisorError(
            f"the frontend at {url} serves no model named {model!r} (HTTP 404).",
            hint=_known_models_hint(client, url),
        )
    raise SupervisorError(f"the frontend at {url} answered HTTP {code}: {detail}")


def _known_models_hint(client: httpx.Client, url: str) -> str:
    import httpx

    try:
        models = _models(client, url)
    except (SupervisorError, httpx.HTTPError, ValueError):
        models = []
    if not models:
        return "It lists no model yet: wait until `trtl status` shows the deployment ready."
    return "Pass --model with one it serves: " + ", ".join(models) + "."


def _detail(payload: Any) -> str:
    """The message of an OpenAI-style error body (``{"error": {"message": ...}}`` and kin)."""
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or json.dumps(error))
        return str(error)
    return str(payload)


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn httpx's transport errors into one SupervisorError sentence about ``url``."""
    import httpx

    try:
        yield
    except httpx.ConnectError as exc:
        raise SupervisorError(
            f"nothing listens at {url}; is the deployment up?",
            hint="See `trtl status`, or start one with `trtl up`.",
        ) from exc
    except httpx.TimeoutException as exc:
        raise SupervisorError(
            f"the frontend at {url} did not answer in time ({type(exc).__name__}).",
            hint="See `trtl status` and `trtl logs`.",
        ) from exc
    except httpx.RemoteProtocolError as exc:
        raise SupervisorError(
            f"the frontend at {url} closed the connection mid-answer: {exc}.",
            hint="See `trtl status` and `trtl logs frontend`.",
        ) from exc
    except httpx.HTTPError as exc:
        raise SupervisorError(f"the request to {url} failed: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        # JSON that is not JSON: something other than a Dynamo frontend answers there.
        raise SupervisorError(
            f"the answer from {url} is not what a Dynamo frontend sends: {exc}.",
            hint="Check --url.",
        ) from exc
