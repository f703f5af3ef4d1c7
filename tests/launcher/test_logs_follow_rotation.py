"""`trtl logs -f` across rotations: every line once, in order, however far behind it is."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from trtl.launcher.supervision import log_files
from trtl.launcher.supervision.log_rotation import LogFile


class _Writer:
    """A process appending numbered lines to its log, and trtl's rotation of that log."""

    def __init__(self, path: Path):
        self.path, self.next = path, 0
        path.write_bytes(b"")
        self.log = LogFile(path)

    def write(self, count: int) -> None:
        with self.path.open("ab") as out:
            for _ in range(count):
                out.write(f"line {self.next:06d} {'x' * 60}\n".encode())
                self.next += 1

    def rotate(self) -> None:
        size = self.log.size()
        self.log.rotate(self.path, keep=10, seen=size, unread=lambda _piece: None)


# Each step runs between two reads of the follower: writes (n) and rotations ("r").
STEPS = {
    "one rotation behind": [[("w", 2000), "r", ("w", 100)]],
    "two rotations behind": [[("w", 2000), "r", ("w", 2000), "r", ("w", 50)]],
    "caught up, then rotated": [[("w", 3000)], ["r", ("w", 10)], ["r"], [("w", 5)]],
}


@pytest.mark.parametrize("case", STEPS)
def test_following_a_log_across_rotations_shows_every_line_once(case, tmp_path, monkeypatch):
    # Before: a rotation that moved the file's data down (COLLAPSE_RANGE) made `logs -f`
    # skip as many bytes as were copied, or start over from the new beginning: 4,000 of
    # 40,000 lines of a real worker were missing from its output.
    writer = _Writer(tmp_path / "worker-0.log")
    writer.write(10)
    steps = iter(STEPS[case])

    def running(_deployment: str) -> bool:
        step = next(steps, None)
        for action in step or []:
            writer.write(action[1]) if isinstance(action, tuple) else writer.rotate()
        return step is not None

    shown = _follow(monkeypatch, writer.path, running, count=5)
    assert shown == [f"{n:06d}" for n in range(5, writer.next)]
    assert (tmp_path / "worker-0.log.1").exists()  # it did rotate


def test_following_goes_on_when_the_older_copies_are_removed(tmp_path, monkeypatch):
    # The follower checks that no rotation happened while it read; with NAME.log.1 gone
    # (removed by hand, or moved away) that check failed for ever and -f showed nothing.
    writer = _Writer(tmp_path / "worker-0.log")
    writer.write(3000)
    writer.rotate()
    steps = iter([lambda: rotated_copy.unlink(), lambda: writer.write(3)])
    rotated_copy = tmp_path / "worker-0.log.1"

    def running(_deployment: str) -> bool:
        step = next(steps, None)
        if step is not None:
            step()
        return step is not None

    shown = _follow(monkeypatch, writer.path, running, count=1)
    assert shown == [f"{n:06d}" for n in range(2999, 3003)]


def _follow(monkeypatch, path, running, count: int) -> list[str]:
    """``trtl logs -f`` of one log while ``running`` (called at each poll) says the
    deployment runs: the line numbers it showed."""
    monkeypatch.setattr(log_files, "_running", running)
    monkeypatch.setattr(log_files, "FOLLOW_INTERVAL", 0)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    log_files.show_logs({"worker-0": path}, count=count, follow=True, deployment="d")
    return [line.split()[3] for line in out.getvalue().splitlines() if "line" in line]
