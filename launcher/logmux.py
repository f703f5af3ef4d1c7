"""The terminal side of ``trtl up``: process lines with a coloured ``name |`` prefix; trtl's own.

Lines are flushed one by one (a pipe reader sees them at once). Colour only on a terminal
and never with ``NO_COLOR``. While the live status table is shown, lines go through its
console so they scroll above the table instead of tearing it.
"""

from __future__ import annotations

import sys
from typing import IO

from .cli.output import use_colour

COLOURS = ("36", "33", "35", "32", "34", "96", "93", "95", "92", "94")
TRTL = "trtl"


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
        self.live = None  # a rich Live while the status table is shown

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def line(self, name: str, text: str) -> None:
        """A line a process printed (hidden with --quiet)."""
        if not self.quiet:
            self._write(f"{self._prefix[name]} {text}")

    def info(self, text: str) -> None:
        """trtl's own line; always shown."""
        for part in text.splitlines() or [""]:
            self._write(f"{self._prefix[TRTL]} {part}")

    def raw(self, text: str) -> None:
        """Unprefixed text (the ready banner)."""
        self._write(text)

    def _write(self, text: str) -> None:
        if self.live is not None:
            from rich.text import Text

            self.live.console.print(Text.from_ansi(text), soft_wrap=True)
            return
        self.stream.write(text + "\n")
        self.stream.flush()
