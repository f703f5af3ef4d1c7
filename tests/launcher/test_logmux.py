"""Prefixed, padded, flushed lines; colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io

from trtl.launcher.supervision.logmux import LogMux


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


class Attached:
    def __init__(self, name: str):
        self.name, self.log_path, self.acks = name, f"{name}.log", 0

    def deliver_to(self, sink, line_events: bool) -> None:
        self.sink = sink

    def acknowledge(self) -> None:
        self.acks += 1


def test_a_process_started_or_renamed_by_a_live_change_gets_a_prefix():
    out = io.StringIO()
    mux = LogMux(["frontend", "worker-0"], stream=out)
    old, new = Attached("worker-0"), Attached("worker-0~new1")
    mux.attach(old, line_events=True)
    mux.attach(new, line_events=True)
    # The candidate takes the name; the old process retires under a temporary one.
    mux.renamed("worker-0", "worker-0~old2")
    mux.renamed("worker-0~new1", "worker-0")
    mux.lines("worker-0~old2", ["draining"])
    mux.lines("worker-0", ["up"])
    mux.line("worker-0", "up")  # the supervisor's copy: acknowledged, not printed again
    mux.line("worker-3", "a line of a process the mux never heard of")
    assert out.getvalue().splitlines() == [
        "worker-0~old2 | draining",
        "worker-0 | up",
        "worker-3 | a line of a process the mux never heard of",
    ]
    assert (old.acks, new.acks) == (0, 1)
