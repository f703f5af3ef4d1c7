"""The terminal side of ``trtl up``: process lines with a coloured ``name |`` prefix; trtl's own.

Lines are flushed as they come (a pipe reader sees them at once). Colour only on a terminal
and never with ``NO_COLOR``. While the live status table is shown, lines go through its
console so they scroll above the table instead of tearing it.

By default every call writes at once. ``start()`` hands the writing to a thread of its own,
for ``trtl up``: then nobody else ever waits for the terminal. Processes attached with
``attach()`` deliver their output in batches straight from their reader threads
(``lines()``), not line by line through the supervisor, so a process printing as fast as it
can is not slowed down by trtl. What waits for a slow or paused terminal is bounded
(``TERMINAL_BACKLOG``): beyond it process lines are skipped, and the terminal is told how
many once it reads again; the log files always get every line, and trtl's own lines are
never skipped.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Protocol

from launcher.terminal import use_colour

COLOURS = ("36", "33", "35", "32", "34", "96", "93", "95", "92", "94")
TRTL = "trtl"
# Bytes of process output that may wait for the terminal; ~35,000 lines of Dynamo's logs.
TERMINAL_BACKLOG = 4 * 2**20


class Attachable(Protocol):
    """What ``attach`` needs of a process (``component.Component``)."""

    name: str
    log_path: object

    def deliver_to(self, sink, line_events: bool) -> None: ...
    def acknowledge(self) -> None: ...


class LogMux:
    """Prints process output and supervisor messages, one line at a time."""

    def __init__(self, names: list[str], *, quiet: bool = False, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.color = use_colour(self.stream)
        self.width = max(len(n) for n in [*names, TRTL])
        self._prefix = {
            name: self._paint(f"{name.ljust(self.width)} |", COLOURS[i % len(COLOURS)])
            for i, name in enumerate(names)
        }
        self._prefix[TRTL] = self._paint(f"{TRTL.ljust(self.width)} |", "1")
        self._live = None  # a rich Live while the status table is shown
        self._attached: dict[str, Attachable] = {}
        # The writer thread's queue: texts to print, their size, lines skipped per process.
        self._queue = threading.Condition()
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._skipped: dict[str, int] = {}
        self._writer: threading.Thread | None = None
        self._closing = False
        # One printer at a time; the live table is started and stopped holding it too.
        self._printing = threading.RLock()
        self._broken = False  # the terminal went away (a closed pipe): print nothing more

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    @property
    def live(self):
        return self._live

    @live.setter
    def live(self, live) -> None:
        # Not while a batch is being printed through the old one.
        with self._printing:
            self._live = live

    def printing(self) -> threading.RLock:
        """Held, nothing is printed: for drawing or removing the live table."""
        return self._printing

    # -- what the supervisor and the reader threads call ----------------------------------

    def line(self, name: str, text: str) -> None:
        """A line a process printed (hidden with --quiet)."""
        attached = self._attached.get(name)
        if attached is not None:
            # Its reader thread printed it already; this is the supervisor's copy.
            attached.acknowledge()
            return
        if not self.quiet:
            self._put(f"{self._prefix[name]} {text}\n", name, 1)

    def lines(self, name: str, texts: list[str]) -> None:
        """Lines a process printed, in one batch (from its reader thread; hidden with --quiet)."""
        if self.quiet or not texts:
            return
        prefix = f"{self._prefix[name]} "
        self._put(prefix + f"\n{prefix}".join(texts) + "\n", name, len(texts))

    def info(self, text: str) -> None:
        """trtl's own line; always shown."""
        prefix = self._prefix[TRTL]
        self._put("".join(f"{prefix} {part}\n" for part in text.splitlines() or [""]))

    def raw(self, text: str) -> None:
        """Unprefixed text (the ready banner)."""
        self._put(text + "\n")

    def attach(self, process: Attachable, *, line_events: bool) -> None:
        """Let ``process`` print its lines itself, in batches. With ``line_events`` it still
        sends the supervisor a (bounded) Line event per line, acknowledged here unprinted."""
        self._attached[process.name] = process
        process.deliver_to(self.lines, line_events)

    # -- the writer thread ------------------------------------------------------------------

    def start(self) -> None:
        """From now on a thread of its own prints; calls only queue their text."""
        if self._writer is None:
            self.stream.flush()
            self._writer = threading.Thread(target=self._write_loop, name="trtl-terminal")
            self._writer.daemon = True
            self._writer.start()

    def close(self) -> None:
        """Print what is queued, then print directly again."""
        writer = self._writer
        if writer is None:
            return
        with self._queue:
            self._closing = True
            self._queue.notify()
        writer.join()
        self._writer = None
        self._closing = False

    def _put(self, text: str, name: str | None = None, count: int = 0) -> None:
        with self._queue:
            if self._writer is not None:
                if name is not None and self._pending_bytes >= TERMINAL_BACKLOG:
                    self._skipped[name] = self._skipped.get(name, 0) + count
                    return
                self._pending.append(text)
                self._pending_bytes += len(text)
                self._queue.notify()
                return
        with self._printing:
            self._print(text)

    def _write_loop(self) -> None:
        while True:
            with self._queue:
                while not (self._pending or self._skipped or self._closing):
                    self._queue.wait()
                batch, skipped = self._pending, self._skipped
                self._pending, self._pending_bytes, self._skipped = [], 0, {}
                if not batch and not skipped:
                    return  # closing, and everything is out
            # Lines were skipped only while all of `batch` waited: the note goes after it.
            batch.extend(self._skipped_note(name, count) for name, count in skipped.items())
            with self._printing:
                if self._broken:
                    continue
                try:
                    self._print("".join(batch))
                except (OSError, ValueError):
                    # Whoever read our output is gone (a closed pipe): keep supervising.
                    self._broken = True

    def _skipped_note(self, name: str, count: int) -> str:
        process = self._attached.get(name)
        where = f" (all in {process.log_path})" if process is not None else ""
        return (
            f"{self._prefix[TRTL]} {name}: {count} lines skipped here, the terminal was "
            f"slower than the process{where}\n"
        )

    def _print(self, text: str) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.console.print(Text.from_ansi(text.removesuffix("\n")), soft_wrap=True)
            return
        self.stream.write(text)
        self.stream.flush()
