"""Children die with trtl, even when trtl is killed with SIGKILL: the parent-death signal.

The signal (``PR_SET_PDEATHSIG``) must be set inside the child, between fork and exec.
Setting it from Python needs a ``preexec_fn``, which makes ``subprocess`` use ``fork``:
5-14 ms per process with trtl's memory mapped, serialised over the processes. Instead the
child is started through two tiny programs that every Linux has, and ``subprocess`` spawns
it with ``vfork`` (0.1-0.3 ms):

    setpriv --pdeathsig KILL -- /bin/sh -c 'CHECK' trtl-child TRTL_PID ARGV...

``setpriv`` (util-linux) sets the signal and execs the shell; the shell checks that its
parent is still trtl (trtl may have died before ``setpriv`` ran, and then nobody would
kill the child) and execs the real program, which keeps the signal across exec. That is
the same guarantee as the old ``preexec_fn`` (which also compared ``getppid``). Where
``setpriv`` or ``/bin/sh`` is missing, the ``preexec_fn`` is used.

The signal fires when the *thread* that spawned the child ends, so trtl spawns from its
main thread, which lives as long as the supervisor.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
SHELL = "/bin/sh"
# $PPID is fixed when the shell starts, after setpriv set the signal: if it is not trtl,
# trtl died before the signal was armed. Exit 1, as the old preexec_fn did.
CHECK = 'test "$PPID" = "$1" || exit 1; shift; exec "$@"'
ARGV0 = "trtl-child"  # the shell's $0, shown by ps for the instant before the exec


def _find_setpriv() -> str | None:
    if not sys.platform.startswith("linux") or os.environ.get("TRTL_NO_SETPRIV"):
        return None
    for path in ("/usr/bin/setpriv", "/bin/setpriv"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("setpriv")


SETPRIV = _find_setpriv()
WRAPPED = SETPRIV is not None and os.access(SHELL, os.X_OK)


def spawn_args(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to spawn and the ``preexec_fn`` (None: none needed) so that the process dies
    with this one. Raises FileNotFoundError/PermissionError for a program that cannot run,
    as spawning it directly would (the shell would only exit 127)."""
    if not WRAPPED:
        return argv, _die_with_parent(os.getpid())
    program = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
    if program is None or not os.path.isfile(program):
        raise FileNotFoundError(2, "No such file or directory", argv[0])
    if not os.access(program, os.X_OK):
        raise PermissionError(13, "Permission denied", argv[0])
    prefix = [SETPRIV, "--pdeathsig", "KILL", "--", SHELL, "-c", CHECK, ARGV0, str(os.getpid())]
    return [*prefix, *argv], None


def _load_prctl() -> Callable[..., int] | None:
    # Resolved before any fork: the child may only call it, not look it up.
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    prctl = _load_prctl()

    def setup() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died between fork and prctl: then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup
