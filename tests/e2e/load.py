"""A bounded, concurrent load of streaming chat completions against a Dynamo frontend.

``StreamingLoad`` sends a fixed number of streaming chat requests, at most ``concurrency``
at a time, from plain threads over one httpx client, and records what a client saw of
each stream: when it started, its first token and its end, the tokens that arrived, the
finish reason, whether ``data: [DONE]`` closed it, and why it failed if it did. A fault
test starts the load, waits until streams are mid-flight, breaks something, then checks
every record; a benchmark reads the same records for counts and timings.

Failures are sorted the way a user tells them apart: ``http`` (an error status),
``sse-error`` (an error frame inside a 200 stream), ``connection`` (refused, reset or
closed mid-stream), ``timeout`` (nothing arrived for ``read_timeout`` s: a hang) and
``incomplete`` (the stream ended without a finish reason or ``[DONE]``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

FailureKind = str  # "http" | "sse-error" | "connection" | "timeout" | "incomplete"


@dataclass
class StreamRecord:
    """What one streaming request looked like from the client's side (monotonic times)."""

    index: int
    started: float
    first_token_at: float | None = None
    ended_at: float | None = None
    tokens: int = 0  # content deltas received (the mocker sends one token per delta)
    finish_reason: str | None = None
    done: bool = False  # the stream ended with ``data: [DONE]``
    completion_tokens: int | None = None  # from the final usage chunk
    status_code: int | None = None
    failure: FailureKind | None = None
    error: str | None = None

    @property
    def streaming(self) -> bool:
        """Tokens have arrived and the stream has not ended: a fault now hits it mid-stream."""
        return self.first_token_at is not None and self.ended_at is None

    @property
    def whole(self) -> bool:
        """The stream finished normally: no error, a finish reason, then ``[DONE]``."""
        return self.failure is None and self.done and self.finish_reason is not None

    def describe(self) -> str:
        took = f"{self.ended_at - self.started:.2f}s" if self.ended_at else "running"
        state = "ok" if self.whole else f"{self.failure}: {self.error}"
        return (
            f"#{self.index} {state} tokens={self.tokens} usage={self.completion_tokens} "
            f"finish={self.finish_reason} done={self.done} {took}"
        )


@dataclass
class LoadReport:
    """Every record of a finished load."""

    records: list[StreamRecord] = field(default_factory=list)

    @property
    def failed(self) -> list[StreamRecord]:
        return [r for r in self.records if not r.whole]

    @property
    def ok(self) -> list[StreamRecord]:
        return [r for r in self.records if r.whole]

    def failure_kinds(self) -> Counter[str]:
        return Counter(r.failure or "ok" for r in self.records)

    def summary(self) -> str:
        """One line per request, for assertion messages."""
        return "\n".join(r.describe() for r in self.records)


class StreamingLoad:
    """``requests`` streaming chats, ``concurrency`` at a time, against ``url``.

    Use as a context manager (or ``start``/``join``); leaving the block closes the client,
    which ends any stream still open, so a failing test never leaves threads reading.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        requests: int = 12,
        concurrency: int = 4,
        max_tokens: int = 64,
        read_timeout: float = 30.0,
        prompt: str = "Tell me a story, number {index}.",
    ):
        self.url = url.rstrip("/") + "/v1/chat/completions"
        self.model = model
        self.requests = requests
        self.concurrency = concurrency
        self.max_tokens = max_tokens
        self.prompt = prompt
        self.records: list[StreamRecord] = []
        self._next = 0
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        # No pool limit beyond the concurrency: a queued request would look like a hang.
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=5.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
        )

    # -- running ----------------------------------------------------------------------

    def start(self) -> StreamingLoad:
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._drive, name=f"load-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __enter__(self) -> StreamingLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def join(self, timeout: float = 60.0) -> LoadReport:
        """Wait until every request has ended; fail if one is still open after ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        open_ = [r.describe() for r in self.records if r.ended_at is None]
        alive = [t.name for t in self._threads if t.is_alive()]
        if open_ or alive:
            raise AssertionError(f"load still running after {timeout} s: {open_ or alive}")
        return LoadReport(sorted(self.records, key=lambda r: r.index))

    # -- watching ---------------------------------------------------------------------

    def streaming(self) -> list[StreamRecord]:
        """Streams that are mid-flight now (tokens arrived, not ended)."""
        with self._changed:
            return [r for r in self.records if r.streaming]

    def wait_streaming(self, count: int, timeout: float = 30.0) -> list[StreamRecord]:
        """Wait until at least ``count`` streams are mid-flight at once; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                now = [r for r in self.records if r.streaming]
                if len(now) >= count:
                    return now
                left = deadline - time.monotonic()
                finished = self._next >= self.requests and all(
                    r.ended_at is not None for r in self.records
                )
                if left <= 0 or finished:
                    raise AssertionError(
                        f"never {count} streams at once; so far:\n"
                        + "\n".join(r.describe() for r in self.records)
                    )
                self._changed.wait(timeout=min(left, 0.5))

    # -- one stream -------------------------------------------------------------------

    def _claim(self) -> StreamRecord | None:
        with self._changed:
            if self._next >= self.requests:
                return None
            record = StreamRecord(index=self._next, started=time.monotonic())
            self._next += 1
            self.records.append(record)
            return record

    def _drive(self) -> None:
        while (record := self._claim()) is not None:
            try:
                self._stream(record)
            except httpx.TimeoutException as exc:
                self._fail(record, "timeout", f"{type(exc).__name__}: {exc}")
            except (httpx.TransportError, RuntimeError) as exc:
                # RuntimeError: the client was closed under an open stream (test teardown).
                self._fail(record, "connection", f"{type(exc).__name__}: {exc}")
            except ValueError as exc:  # a data line that is not JSON
                self._fail(record, "sse-error", f"malformed event: {exc}")
            finally:
                with self._changed:
                    if record.ended_at is None:
                        record.ended_at = time.monotonic()
                        if record.failure is None and not record.whole:
                            record.failure, record.error = "incomplete", "no finish or [DONE]"
                    self._changed.notify_all()

    def _body(self, index: int) -> dict:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt.format(index=index)}],
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _stream(self, record: StreamRecord) -> None:
        with self._client.stream("POST", self.url, json=self._body(record.index)) as response:
            record.status_code = response.status_code
            if response.status_code != 200:
                response.read()
                self._fail(record, "http", f"{response.status_code}: {response.text[:200]}")
                return
            self._read_events(record, response.iter_lines())

    def _read_events(self, record: StreamRecord, lines: Iterable[str]) -> None:
        event = None
        for line in lines:
            if line.startswith("event:"):
                event = line[6:].strip()
                continue
            if not line.startswith("data:"):
                event = None if not line else event  # a blank line ends an event
                continue  # SSE comments
            data = line[5:].strip()
            if data == "[DONE]":
                record.done = True
                continue
            chunk = json.loads(data)
            if event == "error" or "error" in chunk:
                self._fail(record, "sse-error", data[:300])
                return
            self._take(record, chunk)

    def _take(self, record: StreamRecord, chunk: dict) -> None:
        usage = chunk.get("usage")
        if usage:
            record.completion_tokens = usage.get("completion_tokens")
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content") is not None:
                with self._changed:
                    record.tokens += 1
                    if record.first_token_at is None:
                        record.first_token_at = time.monotonic()
                        self._changed.notify_all()
            if choice.get("finish_reason"):
                record.finish_reason = choice["finish_reason"]

    def _fail(self, record: StreamRecord, kind: FailureKind, error: str) -> None:
        with self._changed:
            record.failure, record.error = kind, error
            record.ended_at = time.monotonic()
            self._changed.notify_all()
