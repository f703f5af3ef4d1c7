"""A chatty process: its lines reach the terminal in batches, a slow terminal costs bounded
memory and a counted note, and the log file always gets every line."""

from __future__ import annotations

import io
import queue
import sys
import threading
import time
from pathlib import Path

from trtl.launcher.planning.plan import ProcessPlan
from trtl.launcher.supervision import component as component_mod
from trtl.launcher.supervision import logmux as logmux_mod
from trtl.launcher.supervision.component import Component, Exited, Line
from trtl.launcher.supervision.logmux import LogMux


class SlowStream(io.StringIO):
    """A terminal that blocks until released (a paused `less`, a stuck ssh session)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait()
        return super().write(text)


def _run(argv_code: str, tmp_path: Path, mux: LogMux | None, line_events: bool = False):
    """Run a Python snippet as a supervised process; return its component and its events."""
    plan = ProcessPlan(
        name="worker-0",
        role="worker",
        mode="agg",
        argv=[sys.executable, "-c", argv_code],
        env={},
        gpus=[],
        ports={},
    )
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    comp = Component(plan, tmp_path / "worker-0.log", events.put, {"PATH": "/usr/bin:/bin"})
    if mux is not None:
        mux.attach(comp, line_events=line_events)
    comp.start()
    got = []
    while True:
        event = events.get(timeout=30)
        if isinstance(event, Exited):
            return comp, got
        got.append(event)


def test_writer_thread_prints_batches_with_prefixes_in_order():
    out = io.StringIO()
    mux = LogMux(["frontend", "decode-0"], stream=out)
    mux.start()
    mux.info("starting")
    mux.lines("decode-0", ["a", "b"])
    mux.line("frontend", "c")
    mux.raw("banner")
    mux.close()
    assert out.getvalue().splitlines() == [
        "trtl     | starting",
        "decode-0 | a",
        "decode-0 | b",
        "frontend | c",
        "banner",
    ]
    mux.info("after close: printed at once")
    assert out.getvalue().endswith("trtl     | after close: printed at once\n")


def test_a_slow_terminal_skips_process_lines_with_a_count_but_never_trtl_lines(monkeypatch):
    monkeypatch.setattr(logmux_mod, "TERMINAL_BACKLOG", 100)
    out = SlowStream()
    mux = LogMux(["worker-0"], stream=out)
    mux.start()
    mux.lines("worker-0", ["first"])  # the writer takes it and blocks on the terminal
    time.sleep(0.1)
    for i in range(50):
        mux.lines("worker-0", [f"line {i:02d} " + "x" * 20])
    mux.info("trtl's own line")
    out.release.set()
    mux.close()
    lines = out.getvalue().splitlines()
    shown = [line for line in lines if "line " in line and "skipped" not in line]
    assert lines[0] == "worker-0 | first"
    assert 0 < len(shown) < 50
    assert "trtl     | trtl's own line" in lines
    note = lines[-1]
    assert note == (
        f"trtl     | worker-0: {50 - len(shown)} lines skipped here, the terminal was slower "
        "than the process"
    )


def test_attached_process_lines_are_printed_once_in_batches_and_logged(tmp_path):
    out = io.StringIO()
    mux = LogMux(["worker-0"], stream=out)
    mux.start()
    code = "import sys\nfor i in range(20000): sys.stdout.write(f'n{i}\\n')\nprint('end', end='')"
    comp, events = _run(code, tmp_path, mux)
    mux.close()
    assert not [e for e in events if isinstance(e, Line)]  # nothing line by line
    printed = out.getvalue().splitlines()
    assert printed == [f"worker-0 | n{i}" for i in range(20000)] + ["worker-0 | end"]
    logged = (tmp_path / "worker-0.log").read_text().splitlines()
    assert logged[1:] == [f"n{i}" for i in range(20000)] + ["end"]
    assert list(comp.tail)[-2:] == ["n19999", "end"]


def test_line_events_of_an_attached_process_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(component_mod, "LINE_EVENT_BACKLOG", 100)
    mux = LogMux(["worker-0"], stream=io.StringIO())
    comp, events = _run("for i in range(1000): print(i)", tmp_path, mux, line_events=True)
    lines = [e for e in events if isinstance(e, Line)]
    assert [e.text for e in lines] == [str(i) for i in range(100)]  # nobody acknowledged
    for event in lines:
        mux.line(event.name, event.text)  # the supervisor takes them: acknowledged, unprinted
    assert comp._unacked == 0
    assert mux.stream.getvalue().count("\n") == 1000  # each line printed once, by the reader


def test_a_line_without_end_is_passed_on_in_pieces(tmp_path):
    code = "import sys\nsys.stdout.write('x' * 200000)\nsys.stdout.flush()"
    out = io.StringIO()
    mux = LogMux(["worker-0"], stream=out)
    _run(code, tmp_path, mux)
    pieces = [line.removeprefix("worker-0 | ") for line in out.getvalue().splitlines()]
    assert "".join(pieces) == "x" * 200000
    assert max(map(len, pieces)) <= component_mod.MAX_LINE + component_mod.READ_SIZE


def test_unattached_component_still_sends_one_line_event_per_line(tmp_path):
    _, events = _run("print('a\\r')\nprint('')\nprint('b')", tmp_path, None)
    assert [e.text for e in events if isinstance(e, Line)] == ["a", "", "b"]
