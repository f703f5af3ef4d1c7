"""Size limits of the process log files: rotation by copy and truncate, and disk-full notes.

Processes write their output straight into their log file (``O_APPEND``), never through
trtl: a stopped or slow supervisor can then never make them wait. The price is that trtl
cannot rename a file a process writes to (the process would go on writing into the
renamed file), so rotation copies the file to ``NAME.log.1`` (older copies shift to
``.2`` … ``.KEEP``) and truncates it; the process's next append lands at the new start.
Bytes a process writes between the end of the copy and the truncation (microseconds) are
lost; a relay process per child would avoid that, at the cost of one more process per
child that must itself never stop or fail. On a full disk the copy cannot be made: the
file is truncated anyway (its content is lost, said in a note), so the process's output
has room again.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20
COPY_SIZE = 1024 * 1024
# Below this many free bytes the disk is taken as full (a filesystem keeps some slack).
FULL_BELOW = 256 * 1024


@dataclass(frozen=True)
class LogLimits:
    """How big one process's log may grow: ``max_bytes`` per file, ``keep`` older files."""

    max_bytes: int = 50 * MIB
    keep: int = 3

    def describe(self) -> str:
        return f"{self.max_bytes / MIB:g} MiB × {self.keep + 1} files"


def rotated(path: Path, index: int) -> Path:
    """The ``index``-th older copy of ``path`` (``NAME.log.1`` is the newest)."""
    return path.with_name(f"{path.name}.{index}")


def rotate(path: Path, keep: int, seen: int, unread: Callable[[bytes], None]) -> str | None:
    """Copy ``path`` to ``path.1`` (shifting older copies), then truncate it.

    ``seen`` is how much of the file the caller has read already; the bytes after it that
    go into the copy are handed to ``unread`` piece by piece (a reader far behind a flood
    never holds more than a piece), so the caller reads every line once. Returns a note
    for the log when the copy could not be made (the content was dropped)."""
    for index in range(keep, 1, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(rotated(path, index - 1), rotated(path, index))
    note = None
    try:
        _copy(path, rotated(path, 1) if keep else None, seen, unread)
    except OSError as exc:
        rotated(path, 1).unlink(missing_ok=True)
        note = f"the copy to {rotated(path, 1).name} failed ({exc.strerror}); its lines are lost"
    os.truncate(path, 0)
    return note


def _copy(path: Path, target: Path | None, seen: int, unread: Callable[[bytes], None]) -> None:
    src = os.open(path, os.O_RDONLY)
    dst = None
    try:
        if target is not None:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        offset = 0
        while chunk := os.read(src, COPY_SIZE):
            if dst is not None:
                _write_all(dst, chunk)
            if offset + len(chunk) > seen:
                unread(chunk[max(0, seen - offset) :])
            offset += len(chunk)
    finally:
        os.close(src)
        if dst is not None:
            os.close(dst)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem of ``path``."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


class DiskWatch:
    """Notices the disk filling and emptying again; says for how long it was full."""

    def __init__(self, path: Path, clock=time.time):
        self.path = path
        self.clock = clock
        self.full_since: float | None = None

    def check(self) -> str | None:
        """A note once space returned after the disk was full, else None."""
        free = free_bytes(self.path)
        if free is None:
            return None
        now = self.clock()
        if free < FULL_BELOW:
            if self.full_since is None:
                self.full_since = now
            return None
        if self.full_since is None:
            return None
        since, self.full_since = self.full_since, None
        return (
            f"the disk was full for {now - since:.0f} s (from "
            f"{time.strftime('%H:%M:%S', time.localtime(since))}); what this process printed "
            "meanwhile is lost"
        )
