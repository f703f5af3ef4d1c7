"""SIGINT, SIGTERM and SIGHUP end ``trtl bench`` as Ctrl-C does: what it started is stopped.

``timeout``, a CI cancellation, ``docker stop`` and systemd send SIGTERM; a closed terminal
sends SIGHUP. Either would otherwise kill bench on the spot and leave the graph it started
serving and aiperf loading it. The first signal raises ``Interrupted`` where bench is,
as Python's own SIGINT handler raises KeyboardInterrupt, so every ``finally`` on the way
out runs; inside ``shielded()`` (stopping a graph) it waits until the block is done, so
a stop is never cut in half. Later signals only count: the way out stops the rest.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

from trtl.launcher.bench.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """While entered, the stop signals raise ``Interrupted`` (once); restored on exit.

    SIGINT is taken also when trtl started with it ignored: a script's background job
    (``trtl bench … &`` without job control) inherits it so, and bench would run on with
    graphs it started; ``trtl up`` takes it the same way. SIGHUP ignored (``nohup``) stays
    ignored: that user asked bench to outlive the terminal."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._raised = False
        self._shielded = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:  # None: a handler not set from Python, not restorable
                signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if not self._shielded:
            self._raise()

    def _raise(self) -> None:
        if self.received and not self._raised:
            self._raised = True
            raise Interrupted(self.received[0])

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """A block a signal must not cut short (a graph's stop): it raises after it."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
            if not self._shielded:
                self._raise()
