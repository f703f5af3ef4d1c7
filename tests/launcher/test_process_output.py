"""Process output: a process writes straight into its file, which rotates by size, and every
line still reaches the terminal once; disk-full notes; the calm terminal."""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trtl.launcher.planning.plan import ProcessPlan
from trtl.launcher.supervision import component, log_rotation
from trtl.launcher.supervision.component import Component, Exited
from trtl.launcher.supervision.log_files import read_tail
from trtl.launcher.supervision.log_rotation import DiskWatch, LogFile, LogLimits, rotated
from trtl.launcher.supervision.logmux import LogMux


def _component(code: str, tmp_path: Path, limits: LogLimits) -> tuple[Component, list[str]]:
    plan = ProcessPlan(
        name="worker-0",
        role="worker",
        mode="agg",
        argv=[sys.executable, "-c", code],
        env={},
        gpus=[],
        ports={},
    )
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    comp = Component(plan, tmp_path / "worker-0.log", events.put, {"PATH": "/usr/bin:/bin"})
    comp.limits = limits
    seen: list[str] = []
    comp.deliver_to(lambda _name, texts: seen.extend(texts), line_events=False)
    comp.start()
    while not isinstance(events.get(timeout=60), Exited):
        pass
    return comp, seen


def _kept_lines(log: Path) -> list[str]:
    """Every line the log and its rotated copies hold, oldest first (past a punched hole)."""
    files = sorted(log.parent.glob(f"{log.name}.*"), key=lambda p: -int(p.suffix[1:]))
    lines: list[str] = []
    for path in [*files, log]:
        lines += read_tail(path, None)[0]
    return lines


def _no_collapse(monkeypatch) -> None:
    """Make COLLAPSE_RANGE unknown (EOPNOTSUPP): rotation punches holes, as on tmpfs."""
    monkeypatch.setattr(log_rotation, "_COLLAPSE_RANGE", 0x8000)


# "collapse": ext4 and XFS (the test's tmp directory is usually one); "punch": what tmpfs,
# btrfs and others do. Before, the file was truncated after the copy, and the lines written
# in between were lost: a few per rotation at this pace.
@pytest.mark.parametrize("cut", ["collapse", "punch"])
def test_rotation_loses_no_line_of_a_fast_writer(cut, tmp_path, monkeypatch):
    if cut == "punch":
        _no_collapse(monkeypatch)
    logs = tmp_path / "logs"
    logs.mkdir()
    count = 150_000
    # Full speed within each chunk of 10,000 lines (~120 KB, past the limit); between
    # chunks the writer waits until trtl rotated once more, so there are rotations to race
    # with however the reader is scheduled on a loaded machine.
    code = (
        "import glob, os, time\n"
        f"for i in range({count}):\n"
        "    os.write(1, b'line %06d\\n' % i)\n"
        f"    if i % 10000 == 9999 and i < {count - 1}:\n"
        "        end = time.monotonic() + 60\n"
        f"        while len(glob.glob({str(logs / 'worker-0.log.*')!r})) <= i // 10000"
        " and time.monotonic() < end:\n"
        "            time.sleep(0.001)\n"
    )
    limits = LogLimits(max_bytes=64 * 1024, keep=100)  # ~1.8 MB: some 30 rotations, all kept
    _, seen = _component(code, logs, limits)
    expected = [f"line {i:06d}" for i in range(count)]
    assert seen == expected  # on the terminal: every line once, in order
    kept = _kept_lines(logs / "worker-0.log")
    assert kept[0].startswith("--- trtl: starting worker-0")
    assert kept[1:] == expected  # on disk too, across the copies
    # Rotated at least once per chunk (the writer waited for each).
    assert len(list(logs.glob("worker-0.log.*"))) > 1


def test_a_chatty_process_is_rotated_and_its_lines_reach_the_terminal_once(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    # A write per line, as Dynamo's and Python's loggers do, in bursts.
    code = (
        "import os, time\nfor i in range(60000):\n"
        "    os.write(1, f'line {i:06d} {\"x\" * 40}\\n'.encode())\n"
        "    if i % 1000 == 0: time.sleep(0.03)"
    )
    limits = LogLimits(max_bytes=256 * 1024, keep=2)
    _, seen = _component(code, logs, limits)
    expected = [f"line {i:06d} " + "x" * 40 for i in range(60000)]
    assert seen == expected
    files = sorted(p.name for p in logs.iterdir())
    assert files == ["worker-0.log", "worker-0.log.1", "worker-0.log.2"]
    # ~3.2 MB printed; what the disk holds stays bounded: the current file and two copies,
    # each near the limit (over it by what a busy reader lagged), and the reserve past the
    # current file's end.
    held = [p.stat().st_blocks * 512 for p in logs.iterdir()]
    assert all(size < 4 * limits.max_bytes + log_rotation.RESERVE for size in held), held
    assert _kept_lines(logs / "worker-0.log")[-1] == expected[-1]


@pytest.mark.parametrize("cut", ["collapse", "punch"])
def test_no_copies_kept_means_the_file_is_only_cut(cut, tmp_path, monkeypatch):
    if cut == "punch":
        _no_collapse(monkeypatch)
    log = tmp_path / "p.log"
    log.write_bytes(b"a\n" * 5000 + b"half a line")
    unread: list[bytes] = []
    offset, dropped = LogFile(log).rotate(log, keep=0, seen=4, unread=unread.append)
    assert dropped is None and not rotated(log, 1).exists()
    # The reader had read 2 lines: the cut passed it the whole lines it had not read yet
    # and kept the unfinished one, which the reader finds at the offset the cut returned.
    assert b"".join(unread) == b"a\n" * 4998
    assert read_tail(log, None)[0] == ["half a line"]
    assert log.read_bytes()[offset:] == b"half a line"


def test_copies_shift_and_the_oldest_is_dropped(tmp_path, monkeypatch):
    _no_collapse(monkeypatch)  # a cut exactly at the end of what was written
    log = tmp_path / "p.log"
    log.write_bytes(b"")
    keeper = LogFile(log)
    for content in (b"first\n", b"second\n", b"third\n"):
        with log.open("ab") as out:
            out.write(content)
        keeper.rotate(log, keep=2, seen=log.stat().st_size, unread=lambda _piece: None)
    assert rotated(log, 1).read_bytes() == b"third\n"
    assert rotated(log, 2).read_bytes() == b"second\n"
    assert not rotated(log, 3).exists()
    assert read_tail(log, None)[0] == []


def test_the_disk_watch_says_once_how_long_the_disk_was_full(tmp_path, monkeypatch):
    from trtl.launcher.supervision import log_rotation

    free = iter([10**9, 0, 0, 10**9, 10**9])
    monkeypatch.setattr(log_rotation, "free_bytes", lambda _path: next(free))
    now = iter([100.0, 101.0, 105.0, 112.0, 113.0])
    watch = DiskWatch(tmp_path, clock=lambda: next(now))
    notes = [watch.check() for _ in range(5)]
    assert notes[:3] == [None, None, None] and notes[4] is None
    assert notes[3].startswith("the disk was full for 11 s")


def test_calm_until_ready_shows_warnings_and_errors_with_their_continuations():
    out = io.StringIO()
    mux = LogMux(["frontend", "decode-0"], calm=True, stream=out)
    mux.lines("frontend", ["2026-12-02T14:00:00Z  INFO dynamo: starting", "plain print"])
    mux.lines(
        "frontend",
        ["2026-12-02T14:00:01Z  WARN mm_routing: not supported", "  second line of it"],
    )
    mux.lines(
        "decode-0", ["(EngineCore pid=7) INFO 12-02 loading", "Traceback (most recent call last):"]
    )
    mux.lines("decode-0", ['  File "x.py"', "ERROR:root:boom", "--- trtl: the disk was full"])
    mux.line("frontend", "2026-12-02T14:00:02Z DEBUG noisy")
    mux.ready()
    mux.lines("frontend", ["2026-12-02T14:00:03Z  INFO after ready"])
    mux.stopping()
    mux.lines("frontend", ["2026-12-02T14:00:04Z  INFO shutting down"])
    mux.lines("decode-0", ["2026-12-02T14:00:04Z  WARN Failed to unregister endpoint"])
    mux.lines("decode-0", ["2026-12-02T14:00:04Z ERROR real trouble"])
    assert out.getvalue().splitlines() == [
        "frontend | 2026-12-02T14:00:01Z  WARN mm_routing: not supported",
        "frontend |   second line of it",
        "decode-0 | Traceback (most recent call last):",
        'decode-0 |   File "x.py"',
        "decode-0 | ERROR:root:boom",
        "decode-0 | --- trtl: the disk was full",
        "frontend | 2026-12-02T14:00:03Z  INFO after ready",
        "decode-0 | 2026-12-02T14:00:04Z ERROR real trouble",
    ]


def test_verbose_shows_everything_even_while_stopping():
    out = io.StringIO()
    mux = LogMux(["frontend"], calm=False, stream=out)
    mux.lines("frontend", ["x INFO a"])
    mux.stopping()
    mux.lines("frontend", ["x WARN Failed to unregister"])
    assert len(out.getvalue().splitlines()) == 2


def test_trtl_logs_takes_the_last_lines_from_the_rotated_copies_too(tmp_path):
    from trtl.launcher.supervision.log_files import show_logs

    log = tmp_path / "worker-0.log"
    rotated(log, 2).write_text("a\nb\n")
    rotated(log, 1).write_text("c\nd\n")
    log.write_text("e\n")
    out = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, out
    try:
        show_logs({"worker-0": log}, count=4, follow=False)
    finally:
        sys.stdout = sys_stdout
    assert out.getvalue().splitlines() == [f"worker-0 | {x}" for x in "bcde"]


def test_a_state_file_that_cannot_be_written_never_ends_supervision(monkeypatch):
    import errno

    from trtl.launcher.deployments.run_setup import prepare_run_dir
    from trtl.launcher.planning.plan import PlanOptions, build_plan
    from trtl.launcher.supervision import supervisor as supervisor_mod
    from trtl.launcher.supervision.supervisor import Supervisor
    from trtl.profiles.loader import load_profile

    plan = build_plan(load_profile("agg", engine="mocker"), PlanOptions(deployment="full"))
    prepare_run_dir(plan)
    out = io.StringIO()
    sup = Supervisor(plan, LogMux(["frontend", "worker-0"], stream=out), timeout=60, grace=1)
    written: list[str] = []

    def full_disk(_run_dir, state):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(supervisor_mod, "write_state", full_disk)
    sup._changed()
    sup._changed()
    sup._timers()
    assert out.getvalue().count("cannot write the state file (No space left on device)") == 1
    monkeypatch.setattr(supervisor_mod, "write_state", lambda _d, s: written.append(s.state))
    sup._timers()  # space is back: the state is written at the next tick, not the next change
    assert written == ["starting"] and not sup.state_unwritten


# -- a full disk: what trtl drops, it counts -------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 MiB tmpfs for the log; filling it takes root (elsewhere: skipped, saying so)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill takes root")
    where = tmp_path / "disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], check=True)
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(where: Path) -> Path:
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 65536)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")
    os.close(fd)
    return filler


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# Before, the process lost every line it wrote while the disk was full (its own writes
# failed), and the note only said for how long: not how much, nor that trtl could have
# kept the process writing.
def test_on_a_full_disk_trtl_drops_only_what_it_read_and_counts_it(
    tiny_disk, tmp_path, monkeypatch
):
    monkeypatch.setattr(component, "DISK_CHECK_EVERY", 0.2)
    go, done, end = (tmp_path / name for name in ("go", "done", "end"))
    count, line = 60_000, "line {:06d} " + "x" * 40
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        f"for i in range({count}):\n"
        f"    os.write(1, ({line!r}.format(i) + '\\n').encode())\n"
        "    if i % 100 == 0: time.sleep(0.005)\n"
        f"open({str(done)!r}, 'w').close()\n"
        f"while not os.path.exists({str(end)!r}): time.sleep(0.01)\n"
    )
    plan = ProcessPlan(name="worker-0", role="worker", mode="agg",
                       argv=[sys.executable, "-c", code], env={}, gpus=[], ports={})  # fmt: skip
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    log = tiny_disk / "worker-0.log"
    comp = Component(plan, log, events.put, {"PATH": "/usr/bin:/bin"})
    seen: list[str] = []
    comp.deliver_to(lambda _name, texts: seen.extend(texts), line_events=False)
    comp.start()
    try:
        _wait(lambda: log.stat().st_blocks * 512 >= log_rotation.RESERVE)  # the reserve
        filler = _fill(tiny_disk)
        go.touch()  # ~3 MB of lines onto a disk without a free byte
        _wait(done.exists)
        filler.unlink()
        _wait(lambda: "the disk was full for" in log.read_bytes().decode(errors="replace"))
    finally:
        end.touch()
    while not isinstance(events.get(timeout=60), Exited):
        pass
    expected = [line.format(i) for i in range(count)]
    assert [text for text in seen if text.startswith("line ")] == expected  # on the terminal
    kept = read_tail(log, None)[0]
    note = next(text for text in kept if "the disk was full for" in text)
    match = re.search(r"; (\d+) lines \((\d+) bytes\) of this log were dropped", note)
    assert match, note
    assert "may also have lost" not in note
    dropped_lines, dropped_bytes = int(match[1]), int(match[2])
    # The process lost nothing: what the file lacks is exactly its start (the marker and
    # the first lines), which trtl read, dropped and counted.
    numbered = [text for text in kept if text.startswith("line ")]
    first = count - len(numbered)
    assert numbered == expected[first:]
    assert first > 0 and not kept[0].startswith("--- trtl: starting")
    assert dropped_lines == first + 1
    marker = len("--- trtl: starting worker-0 (start #1)\n")
    assert dropped_bytes == marker + first * (len(expected[0]) + 1)
