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

A calm mux (``calm``, the foreground of ``trtl up`` until ready and again while stopping)
shows only the warnings and errors of the processes, with the lines that continue them (a
traceback, a multi-line warning), and trtl's own notes in their logs; while stopping it
also hides the warnings every stopping Dynamo process prints. The log files still get
every line.
"""

from __future__ import annotations

import errno
import re
import sys
import threading
from typing import IO, Protocol

from trtl.launcher.supervision.yielding import yield_cpu
from trtl.launcher.terminal import use_colour

COLOURS = ("36", "33", "35", "32", "34", "96", "93", "95", "92", "94")
TRTL = "trtl"
# Bytes of process output that may wait for the terminal; ~35,000 lines of Dynamo's logs.
TERMINAL_BACKLOG = 4 * 2**20
# A log line's level, near its start: Dynamo's "2026-… WARN target: …", vLLM's
# "(EngineCore pid=1) WARNING 12-02 …", Python's "ERROR:root:…".
LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b")
LEVEL_WITHIN = 64  # characters from the start of the line
LOUD = frozenset({"WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"})
OWN_NOTE = "--- trtl:"  # trtl's notes in a process log (component.py)
# Warnings and errors every stopping Dynamo process prints (registrations it drops, the
# streams it watched ending); a calm mux hides them once stopping (the log files keep them).
SHUTDOWN_NOISE = (
    "failed to unregister",
    "endpoint service completed unexpectedly",
    "the sender is dropped",
    "model discovery stream ended",
    "instance removal watcher",
    "removing worker",
)  # lower case, compared with the line in lower case


class Attachable(Protocol):
    """What ``attach`` needs of a process (``component.Component``)."""

    name: str
    log_path: object

    def deliver_to(self, sink, line_events: bool) -> None: ...
    def acknowledge(self) -> None: ...


class LogMux:
    """Prints process output and supervisor messages, one line at a time."""

    def __init__(
        self,
        names: list[str],
        *,
        quiet: bool = False,
        calm: bool = False,
        stream: IO[str] | None = None,
    ):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.calm = calm
        self._tidy = calm  # hide known shutdown noise once stopping (see ``stopping``)
        self._hide_noise = False
        self._loud: dict[str, bool] = {}  # per process: its last leveled line was loud
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
        if not self.quiet and self._shown(name, text):
            self._put(f"{self.prefix(name)} {text}\n", name, 1)

    def lines(self, name: str, texts: list[str]) -> None:
        """Lines a process printed, in one batch (from its reader thread; hidden with --quiet)."""
        if self.quiet or not texts:
            return
        if self.calm or self._hide_noise:
            texts = [text for text in texts if self._shown(name, text)]
            if not texts:
                return
        prefix = f"{self.prefix(name)} "
        self._put(prefix + f"\n{prefix}".join(texts) + "\n", name, len(texts))

    def prefix(self, name: str) -> str:
        """The ``name |`` prefix; made on first use for a process started after the mux
        (by ``trtl scale`` or ``apply``, or a live change's ``worker-0~new1``)."""
        prefix = self._prefix.get(name)
        if prefix is None:
            colour = COLOURS[len(self._prefix) % len(COLOURS)]
            prefix = self._prefix[name] = self._paint(f"{name.ljust(self.width)} |", colour)
        return prefix

    def ready(self) -> None:
        """The deployment is ready: from now on every process line is shown."""
        self.calm = False

    def stopping(self) -> None:
        """Stopping began: a calm mux is calm again and hides the noise of stopping processes."""
        self.calm = self.calm or self._tidy
        self._hide_noise = self._tidy

    def _shown(self, name: str, text: str) -> bool:
        if self._hide_noise and any(noise in text.lower() for noise in SHUTDOWN_NOISE):
            return False
        return not self.calm or self._is_loud(name, text)

    def _is_loud(self, name: str, text: str) -> bool:
        """A warning or an error, or a line continuing one (calm mode shows those)."""
        if text.startswith(OWN_NOTE):
            return True
        level = LEVEL.search(text, 0, LEVEL_WITHIN)
        if level is not None:
            self._loud[name] = level.group(1) in LOUD
        elif text.startswith("Traceback (most recent call last)"):
            self._loud[name] = True
        return self._loud.get(name, False)

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

    def renamed(self, old: str, new: str) -> None:
        """An attached process runs as ``new`` from now on (a live change installed or
        retired it); its Line events are acknowledged under that name."""
        process = self._attached.pop(old, None)
        if process is not None:
            self._attached[new] = process

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
            if not self._broken:
                self._print_or_drop(text)

    @property
    def broken(self) -> bool:
        """Whoever read the output is gone (a closed pipe): nothing more will be shown."""
        return self._broken

    def _print_or_drop(self, text: str) -> None:
        try:
            self._print(text)
        except OSError as exc:
            # A full disk under a detached supervisor's log: this text is lost, the next
            # may fit. Anything else means whoever read our output is gone (a closed pipe).
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                self._broken = True
        except ValueError:  # the stream was closed
            self._broken = True

    def _write_loop(self) -> None:
        yield_cpu()  # the processes first (yielding.py)
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
                self._print_or_drop("".join(batch))

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
