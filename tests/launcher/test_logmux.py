"""Prefixed, padded, flushed lines; colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io

from launcher.supervision.logmux import LogMux


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_prefixes_are_padded_to_the_longest_name(monkeypatch):
    out = io.StringIO()
    mux = LogMux(["frontend", "decode-0"], stream=out)
    mux.line("decode-0", "hello")
    mux.info("ready")
    assert out.getvalue().splitlines() == ["decode-0 | hello", "trtl     | ready"]


def test_quiet_hides_process_lines_but_not_trtl_lines():
    out = io.StringIO()
    mux = LogMux(["frontend"], quiet=True, stream=out)
    mux.line("frontend", "noise")
    mux.info("two\nlines")
    assert out.getvalue().splitlines() == ["trtl     | two", "trtl     | lines"]


def test_colour_on_a_terminal_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = FakeTty()
    LogMux(["frontend"], stream=tty).line("frontend", "x")
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTty()
    LogMux(["frontend"], stream=tty).line("frontend", "x")
    assert "\x1b[" not in tty.getvalue()
