"""The claim on a deployment name: a lock file the OS releases when its holder dies.

``trtl up`` takes it before its checks and holds it for the whole run; ``trtl up -d``
takes it, then hands the very lock down to the background supervisor (an inherited
descriptor), so of two starts of one name exactly one runs. The file also says who holds
it and in which role, so ``trtl down`` finds a start or a run without any state file:
before the supervisor wrote its first state, or after that file was lost.
"""

from __future__ import annotations

import fcntl
import os
from typing import NamedTuple

from trtl.launcher.deployments.paths import RunDir

LOCK_FILE = "supervisor.lock"
STARTER = "starter"  # `trtl up` (also -d) between its checks and the supervisor's start
SUPERVISOR = "supervisor"  # the process running the supervisor loop


class LockHolder(NamedTuple):
    """Who holds a deployment's lock, as it wrote itself into the lock file."""

    pid: int
    create_time: float
    role: str  # STARTER or SUPERVISOR

    @property
    def alive(self) -> bool:
        from trtl.launcher.deployments.state import is_same_process

        return is_same_process(self.pid, self.create_time)


class DeploymentLock:
    """The claim on one deployment name."""

    def __init__(self, run_dir: RunDir):
        self.path = run_dir.root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, role: str = SUPERVISOR) -> bool:
        """Take the lock (False if another process holds it) and write ``role`` into it."""
        if not self._try_lock():
            return False
        self.mark_holder(role)
        return True

    def _try_lock(self) -> bool:
        from trtl.launcher.deployments.state import make_private_dir

        make_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def mark_holder(self, role: str = SUPERVISOR) -> None:
        """Write who holds the lock into it, so `trtl down` finds it without a state file."""
        from trtl.launcher.deployments.process_time import create_time_of

        assert self._fd is not None
        me = os.getpid()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{me} {create_time_of(me)} {role}\n".encode(), 0)

    def holder(self) -> LockHolder | None:
        """Who holds the lock now (None when nobody does, or it cannot be read)."""
        if not self.held_elsewhere():
            return None
        try:
            fields = self.path.read_text().split()
            return LockHolder(int(fields[0]), float(fields[1]), fields[2] if fields[2:] else "")
        except (OSError, ValueError, IndexError):
            return None

    @property
    def fd(self) -> int | None:
        return self._fd

    @classmethod
    def adopt(cls, run_dir: RunDir, fd: int) -> DeploymentLock:
        """Take over a lock a parent acquired and passed down (``trtl up -d``)."""
        lock = cls(run_dir)
        lock._fd = fd
        lock.mark_holder(SUPERVISOR)
        return lock

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock (checked without keeping it, and
        without touching what the holder wrote)."""
        if not self.path.exists():
            return False
        if self._try_lock():
            self.release()
            return False
        return True
