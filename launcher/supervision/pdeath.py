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

``spawn`` starts the wrapped process with ``os.posix_spawn`` (glibc's ``vfork``-style
clone, as ``subprocess`` without a ``preexec_fn``) and returns a ``Spawned``, a
``subprocess.Popen`` for what supervising needs (``pid``, ``poll``, ``wait``). The first
start of a repeated ``trtl up`` (``wait_exec=False``, a process without threads) forks
instead and the child arms the signal itself, through ``prctl`` called with ``_ctypes``
alone, and execs the program directly: no ``setpriv`` and no shell, two execs (~2-3 ms)
less on each process's start. This module
imports only built-in modules: a repeated ``trtl up`` spawns every process through it
before it imports anything else (``early_start``), and ``subprocess`` with ``signal``,
``threading`` and ``selectors`` costs that start milliseconds a bare launch does not pay.
"""

from __future__ import annotations

import _signal
import _thread
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs the first spawn milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable
    from subprocess import Popen

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
    return _which("setpriv")


def _which(program: str) -> str | None:
    """``shutil.which`` for a plain name (shutil imports fnmatch and re)."""
    for folder in os.get_exec_path():
        path = os.path.join(folder, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


SETPRIV = _find_setpriv()

# SESSIONS. Each child leads a process group of its own (its whole tree is signalled as
# one, and the terminal's Ctrl-C reaches trtl alone), inside trtl's session, not a new
# session. With the kernel's autogroups (sched_autogroup_enabled=1, the default of most
# desktop distributions) CPU is shared between sessions first and nice values count only
# within one: children in sessions of their own made trtl's supervising threads compete
# with each starting process at full weight, nice 19 or not (measured: 1.47-1.57x a bare
# launch at load 2 against 1.04-1.09x with trtl's group yielding). In trtl's session they
# share one autogroup, as the processes of a hand-written launch script share its shell's,
# and trtl's threads at nice 19 (``yielding``) give way to them.
WRAPPED = SETPRIV is not None and os.access(SHELL, os.X_OK)


def spawn_args(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to spawn and the ``preexec_fn`` (None: none needed) so that the process dies
    with this one. Raises FileNotFoundError/PermissionError for a program that cannot run,
    as spawning it directly would (the shell would only exit 127)."""
    if not WRAPPED:
        return argv, _die_with_parent(os.getpid())
    _program(argv[0])
    prefix = [SETPRIV, "--pdeathsig", "KILL", "--", SHELL, "-c", CHECK, ARGV0, str(os.getpid())]
    return [*prefix, *argv], None


def _program(name: str) -> str:
    """The path an exec of ``name`` runs; FileNotFoundError/PermissionError as ``execvp``."""
    program = name if os.sep in name else _which(name)
    if program is None or not os.path.isfile(program):
        raise FileNotFoundError(2, "No such file or directory", name)
    if not os.access(program, os.X_OK):
        raise PermissionError(13, "Permission denied", name)
    return program


_raw_prctl_cache: list[Callable[[int, int], int] | None] = []


def _raw_prctl() -> Callable[[int, int], int] | None:
    """libc's ``prctl`` through ``_ctypes`` alone (None off Linux): ``ctypes`` itself
    imports ``struct`` and builds its classes (3-4 ms of a repeated ``trtl up``'s start);
    this costs ~0.5 ms."""
    if not _raw_prctl_cache:
        _raw_prctl_cache.append(None)
        if sys.platform.startswith("linux"):
            try:
                import _ctypes

                class _Int(_ctypes._SimpleCData):
                    _type_ = "i"

                class _Function(_ctypes.CFuncPtr):
                    _flags_ = _ctypes.FUNCFLAG_CDECL
                    _restype_ = _Int

                class _Libc:  # what CFuncPtr((name, library)) reads: the dlopen handle
                    _handle = _ctypes.dlopen(None, os.RTLD_NOW)

                _raw_prctl_cache[0] = _Function(("prctl", _Libc()))
            except (ImportError, OSError, AttributeError, TypeError):
                pass
    return _raw_prctl_cache[0]


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    prctl = _raw_prctl()  # resolved before any fork: the child may only call it

    def setup() -> None:
        if os.getpgid(0) != os.getpid():  # not already a group's leader (a session's, say)
            os.setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL)
        # The parent may have died between fork and prctl: then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


# Python ignores these; a child must not inherit that (subprocess's restore_signals).
_RESTORED_SIGNALS = tuple(
    getattr(_signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(_signal, name)
)


def spawn(
    argv: list[str], env: dict[str, str], log_fd: int, *, wait_exec: bool = True
) -> Spawned | Popen[bytes]:
    """Start ``argv`` in a process group of its own (see SESSIONS), so that it dies with
    this process: stdin from
    /dev/null, stdout and stderr into ``log_fd``, no other descriptor of trtl's. Raises
    OSError (FileNotFoundError, PermissionError, ...) when it cannot start.

    ``wait_exec=False``, only for a process without threads (``early_start``): ``fork``
    instead of the vfork-style ``posix_spawn``, which holds the parent until the child has
    exec'd. On two busy cores that wait is the child's turn on a core behind every process
    already starting (3-16 ms each, serialised over the processes); a small process forks
    in a fraction of a millisecond and goes on to the next. The child arms the
    parent-death signal itself and execs the program directly (no wrapper). A program that
    then cannot be exec'd exits 127 instead of raising (``_program`` has checked that it
    exists)."""
    prctl = None if wait_exec else _raw_prctl()
    if prctl is not None:
        program = _program(argv[0])
        parent = os.getpid()
        inherited = [fd for fd in _inherited_fds() if fd != log_fd]
        pid = os.fork()
        if pid == 0:  # the child: only system calls until the exec, whatever happens
            try:
                os.setpgid(0, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                for fd in inherited:
                    os.close(fd)
                if prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL) != 0:
                    os.write(2, b"trtl: could not set the parent-death signal (prctl)\n")
                    os._exit(1)
                # trtl may have died between the fork and the prctl: then nobody would
                # kill this child. Exit 1, as the wrapper's shell does.
                if os.getppid() != parent:
                    os._exit(1)
                for signum in _RESTORED_SIGNALS:
                    _signal.signal(signum, _signal.SIG_DFL)
                os.execve(program, argv, env)
            finally:
                os._exit(127)
        # The child makes itself a group's leader, but it may not have run yet: a stop
        # sent to its group at once (``killpg``) would find no group and miss it. Both
        # sides set it, as shells do; once the child has exec'd, the kernel refuses
        # (EACCES) and the child's own call has done it.
        try:  # noqa: SIM105 - contextlib is not loaded yet
            os.setpgid(pid, pid)
        except OSError:
            pass
        return Spawned(pid, argv)
    if not WRAPPED:
        import subprocess

        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(os.getpid()),  # its own process group, too
        )
    wrapped, _ = spawn_args(argv)
    # The log on 1 and 2 first: were it 0 itself (trtl started without stdin), /dev/null
    # would otherwise replace it before it was copied.
    actions: list[tuple[object, ...]] = [
        (os.POSIX_SPAWN_DUP2, log_fd, 1),
        (os.POSIX_SPAWN_DUP2, log_fd, 2),
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    ]
    # Python opens every descriptor close-on-exec; one trtl inherited open (from a shell or
    # a test runner) would reach the child, where subprocess's close_fds closes it.
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds() if fd != log_fd]
    pid = os.posix_spawn(
        wrapped[0], wrapped, env, file_actions=actions, setpgroup=0, setsigdef=_RESTORED_SIGNALS
    )
    return Spawned(pid, argv)


def _inherited_fds() -> list[int]:
    """This process's descriptors above 2 that an exec would pass on."""
    found = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                continue  # the listing's own descriptor, closed by now
    return found


class Spawned:
    """A child ``spawn`` started: the part of ``subprocess.Popen`` supervising uses, with
    its semantics (``poll`` answers None while another thread waits; ``wait`` reaps)."""

    def __init__(self, pid: int, args: list[str]):
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._waiting = _thread.allocate_lock()

    def poll(self) -> int | None:
        if self.returncode is None and self._waiting.acquire(False):
            try:
                if self.returncode is None:
                    self._reap(os.WNOHANG)
            finally:
                self._waiting.release()
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            with self._waiting:
                if self.returncode is None:
                    self._reap(0)
        return self.returncode

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:
            self.returncode = 0  # reaped elsewhere (SIGCHLD ignored): as Popen says
            return
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)
