"""Size limits of the process log files: rotation that loses no line, and a full disk.

Processes write their output straight into their log file (``O_APPEND``), never through
trtl: a stopped or slow supervisor can then never make them wait. trtl cannot rename a
file a process writes to (the process would go on writing into the renamed file), so
rotation copies the start of the file to ``NAME.log.1`` (older copies shift to ``.2`` …
``.KEEP``) and then removes exactly the copied range from the file, in place:

* ``FALLOC_FL_COLLAPSE_RANGE`` (ext4, XFS) removes a block-aligned range and moves the
  rest down: the file stays within its limit;
* ``FALLOC_FL_PUNCH_HOLE`` (tmpfs, btrfs and most others) frees the range's blocks: the
  disk holds only what is left, while the file's apparent size (``ls -l``, not ``du``)
  keeps growing; ``trtl logs`` skips the hole (``SEEK_DATA``).

Why no line is lost: both run under the file's inode lock, as every append does, and touch
only the copied range; whatever the process appends meanwhile lands after that range and
stays, to be copied at the next rotation. Only where neither exists (rare file systems) is
the file truncated after the copy, and the lines written between the copy and the
truncation (microseconds) are lost.

A full disk: each log keeps ``RESERVE`` bytes allocated past its end (``fallocate`` with
``FALLOC_FL_KEEP_SIZE``), so the process's appends need no new block. When trtl cannot
renew the reserve (no space), it drops what it has already read of the file (the same
in-place removal, no copy) to make room, counts those lines, and says so in a note once
space returns. A process can lose a line of its own (Dynamo and Python's logging drop a
line they cannot write and go on) only when trtl cannot keep up (its supervisor stopped,
or nothing left to drop): the note then says it may have.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20
COPY_SIZE = 1024 * 1024
# Below this many free bytes the disk is taken as full (a filesystem keeps some slack).
FULL_BELOW = 256 * 1024
# Bytes kept allocated past the end of each log: what a process may write on a full disk
# before trtl has made room (its reader runs every few milliseconds while lines come).
RESERVE = MIB
# A full disk counts as having room again above this: room made by dropping a log's lines
# (and at once taken by its reserve again) is not space returned.
ROOM_AGAIN = 4 * RESERVE

_KEEP_SIZE, _PUNCH_HOLE, _COLLAPSE_RANGE = 0x01, 0x02, 0x08  # linux/falloc.h
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class LogLimits:
    """How big one process's log may grow: ``max_bytes`` per file, ``keep`` older files."""

    max_bytes: int = 50 * MIB
    keep: int = 3

    def describe(self) -> str:
        return f"{self.max_bytes / MIB:g} MiB × {self.keep + 1} files"


@dataclass
class Dropped:
    """Lines (and bytes) of a log that were removed without a copy."""

    lines: int = 0
    nbytes: int = 0

    def add(self, other: Dropped) -> None:
        self.lines += other.lines
        self.nbytes += other.nbytes


def rotated(path: Path, index: int) -> Path:
    """The ``index``-th older copy of ``path`` (``NAME.log.1`` is the newest)."""
    return path.with_name(f"{path.name}.{index}")


_LIBC: list = []  # loaded on first use


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with a mode (``os.posix_fallocate`` has none). Raises OSError."""
    import ctypes  # only the supervisor's log readers need it

    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        _LIBC.append(libc)
    if _LIBC[0].fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def first_data(fd: int) -> int:
    """Where the data of a log begins: after the hole a rotation punched, if any."""
    position = 0
    while True:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole (or nothing at all)
                return os.fstat(fd).st_size
            return position  # no SEEK_DATA here: no holes either
        # A hole ends at a block boundary; the cut itself may lie inside that block.
        head = os.pread(fd, 65536, start)
        data = head.lstrip(b"\0")
        if data or len(head) < 65536:
            return start + len(head) - len(data)
        position = start + len(head)


class LogFile:
    """trtl's own handle on one process's log: removes read ranges, keeps the reserve."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR)  # never written through: appends are the process's
        self.base = first_data(self.fd)  # where the kept data begins
        self.reserved_to = 0
        self._collapse = self._punch = self._reserve = True
        self._retry_at = 0.0  # monotonic time before which a failed cut is not retried

    def close(self) -> None:
        os.close(self.fd)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def keep_reserve(self) -> bool:
        """Keep ``RESERVE`` bytes allocated past the end; False when there is no room for
        all of it (as much as there is room for is taken)."""
        size = self.size()
        if not self._reserve or size + RESERVE // 2 <= self.reserved_to:
            return True
        for amount in (RESERVE, RESERVE // 4, RESERVE // 16):
            try:
                _fallocate(self.fd, _KEEP_SIZE, size, amount)
            except OSError as exc:
                if exc.errno in _NO_SPACE:
                    continue
                self._reserve = False  # not supported here: appends allocate as they go
                return True
            self.reserved_to = max(self.reserved_to, size + amount)
            return amount == RESERVE
        return False

    def reserve_spent(self) -> bool:
        """The process has written (nearly) up to the end of the reserve: on a full disk,
        its next line may find no room."""
        return self._reserve and self.size() + 4096 >= self.reserved_to

    def rotate(
        self, path: Path, keep: int, seen: int, unread: Callable[[bytes], None]
    ) -> tuple[int, Dropped | None]:
        """Copy the file's data to ``path.1`` (shifting older copies), then remove what was
        copied; return the reader's new offset and, if the copy failed (a full disk), what
        was dropped without it. Bytes after ``seen`` go to ``unread`` piece by piece (a
        reader far behind a flood never holds more than a piece), so the caller reads every
        line once. Raises OSError when the older copies cannot be shifted."""
        point = self._line_end(self.size())
        if point <= self.base or time.monotonic() < self._retry_at:
            return seen, None
        for index in range(keep, 1, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(rotated(path, index - 1), rotated(path, index))
        target = rotated(path, 1) if keep else None
        dropped = self._copy(point, target, seen, unread)
        try:
            return self._cut(point, max(seen, point)), dropped
        except OSError:
            # Not cut (no room for the file system's own bookkeeping, say): the copied lines
            # stay in the file too, copied again next time; nothing is lost. Not before a
            # second from now, or a reader would copy the whole file on every read.
            self._retry_at = time.monotonic() + 1.0
            return max(seen, point), dropped

    def drop(self, offset: int) -> tuple[int, Dropped]:
        """Remove what the reader has read (up to ``offset``) without a copy, to make room;
        return the reader's new offset and what was dropped. Raises OSError."""
        point = self._line_end(offset)
        if point <= self.base:
            return offset, Dropped()
        counted = self._copy(point, None, offset, lambda _piece: None, count=True)
        return self._cut(point, offset), counted or Dropped()

    def _line_end(self, upto: int) -> int:
        """The end of the last whole line before ``upto``: a cut there splits no line
        between two files (``upto`` itself where a line runs on for a megabyte)."""
        end = upto
        while end > max(self.base, upto - COPY_SIZE):
            start = max(self.base, end - 65536, upto - COPY_SIZE)
            newline = os.pread(self.fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
        return upto

    def _cut(self, point: int, offset: int) -> int:
        """Remove ``[base, point)``, leaving what follows untouched; return ``offset`` (at
        or past ``point``) as it is after the cut.

        A collapse removes whole blocks only: ``[0, block boundary)``, then a hole is
        punched over the rest of the range (less than a block, zeroes that readers skip)."""
        if self._collapse:
            block = os.fstat(self.fd).st_blksize or 4096
            aligned = point // block * block
            if aligned >= self.size():  # a collapse may not reach the end of the file
                aligned -= block
            try:
                if aligned > 0:
                    _fallocate(self.fd, _COLLAPSE_RANGE, 0, aligned)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise
                self._collapse = False
            else:
                self.base, self.reserved_to = 0, max(0, self.reserved_to - max(aligned, 0))
                with contextlib.suppress(OSError):  # else: a copied fragment stays; no loss
                    self._punch_to(point - max(aligned, 0))
                return offset - max(aligned, 0)
        if self._punch:
            try:
                self._punch_to(point)
                return offset
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise
                self._punch = False
        os.ftruncate(self.fd, 0)  # the last resort: what was appended since the copy is lost
        self.base, self.reserved_to = 0, 0
        return 0

    def _punch_to(self, point: int) -> None:
        """Punch ``[0, point)``: from 0, not from ``base``, so that the block a former cut
        ended in is freed too once it is all behind the cut (one left allocated would hold
        zeroes that ``SEEK_DATA`` takes for data)."""
        if point > self.base:
            _fallocate(self.fd, _PUNCH_HOLE | _KEEP_SIZE, 0, point)
            self.base = point

    def _copy(
        self,
        point: int,
        target: Path | None,
        seen: int,
        unread: Callable[[bytes], None],
        count: bool = False,
    ) -> Dropped | None:
        """Copy ``[base, point)`` to ``target``; None when done, else what was not copied
        (a copy that failed, or ``count`` with no target)."""
        dst, failed = None, count
        if target is not None:
            try:
                dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError:
                failed = True
        lost = Dropped()
        offset = self.base
        try:
            while offset < point:
                chunk = os.pread(self.fd, min(COPY_SIZE, point - offset), offset)
                if not chunk:
                    break
                if dst is not None:
                    try:
                        _write_all(dst, chunk)
                    except OSError:
                        failed = True
                        os.close(dst)
                        dst = None
                if offset + len(chunk) > seen:
                    unread(chunk[max(0, seen - offset) :])
                lost.lines += chunk.count(b"\n")
                lost.nbytes += len(chunk)
                offset += len(chunk)
        finally:
            if dst is not None:
                os.close(dst)
        if failed and target is not None:
            target.unlink(missing_ok=True)
        return lost if failed else None


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
    """Notices the disk filling and emptying again; says for how long it was full and
    what of one process's log was dropped meanwhile."""

    def __init__(self, path: Path, clock=time.time):
        self.path = path
        self.clock = clock
        self.full_since: float | None = None
        self.dropped = Dropped()
        self.starved = False  # the reserve ran out: the process may have lost lines itself

    def mark_full(self) -> None:
        """The disk had no room for something trtl wrote (before statvfs said so)."""
        if self.full_since is None:
            self.full_since = self.clock()

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
        if self.full_since is None or free < ROOM_AGAIN:
            return None
        since, self.full_since = self.full_since, None
        dropped, self.dropped = self.dropped, Dropped()
        starved, self.starved = self.starved, False
        note = (
            f"the disk was full for {now - since:.0f} s (from "
            f"{time.strftime('%H:%M:%S', time.localtime(since))}); "
        )
        if dropped.lines or dropped.nbytes:
            note += (
                f"{dropped.lines} lines ({dropped.nbytes} bytes) of this log were dropped "
                "to make room for new ones"
            )
        else:
            note += "no line of this log was dropped"
        if starved:
            note += "; the process may also have lost lines it could not write"
        return note
