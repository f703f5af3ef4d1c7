"""Running aiperf, the load generator, as a subprocess of trtl's own Python.

aiperf comes with the ``trtl[bench]`` extra. It runs offline against a local tokenizer
directory, but only without ``HF_HUB_OFFLINE=1`` in its environment (it then refuses local
paths), so that variable is dropped for aiperf alone. It runs in its own process group, so
Ctrl-C reaches trtl first and trtl stops aiperf, then the graphs it started. It dies with
trtl, also when trtl is killed with SIGKILL: it is started with the parent-death signal
(``supervision.pdeath``), and aiperf's own services die with it (they arm the same signal).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from trtl.launcher.bench.errors import BenchError
from trtl.launcher.supervision.pdeath import spawn_args

LOG_FILE = "aiperf.log"
INSTALL_HINT = "Install it with `pip install 'trtl[bench]'` (or `uv sync --extra bench`)."
# aiperf answers SIGINT by cancelling and writing what it has; then it is killed.
INTERRUPT_WAIT_S = 10.0


def require_aiperf() -> str:
    """aiperf's version. Raises BenchError when trtl's Python cannot import it."""
    from importlib import metadata, util

    if util.find_spec("aiperf") is None:
        raise BenchError(
            "aiperf, the load generator trtl bench runs, is not installed.",
            hint=INSTALL_HINT,
            exit_code=2,
        )
    try:
        return metadata.version("aiperf")
    except metadata.PackageNotFoundError:
        return "unknown"


def aiperf_env() -> dict[str, str]:
    """trtl's environment for aiperf: offline switches that break local tokenizers dropped."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_aiperf(
    args: list[str], artifact_dir: Path, *, tick: Callable[[], None] | None = None
) -> None:
    """Run ``aiperf ARGS`` writing into ``artifact_dir``; its output goes to ``aiperf.log``.

    ``tick`` is called about four times a second while it runs (progress display). Raises
    BenchError when aiperf fails, naming its own reason; KeyboardInterrupt stops it first.
    """
    artifact_dir.mkdir(parents=True, exist_ok=True)
    log_path = artifact_dir / LOG_FILE
    argv, preexec_fn = spawn_args([sys.executable, "-m", "aiperf", *args])
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            argv,
            preexec_fn=preexec_fn,  # None where setpriv arms the parent-death signal
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=aiperf_env(),
            start_new_session=True,
        )
        watchdog = _no_watch
        try:
            watchdog = _group_watchdog(child.pid)  # inside: a stop now still stops aiperf
            while child.poll() is None:
                if tick:
                    tick()
                time.sleep(0.25)
        except BaseException:
            _stop(child)
            raise
        finally:
            watchdog()
    if child.returncode != 0:
        raise BenchError(
            f"aiperf failed (exit code {child.returncode}): {failure_reason(log_path)}",
            hint=f"Its output is in {log_path}.",
        )


# Waits for EOF on its stdin, which only trtl holds open, then kills aiperf's group.
WATCHDOG = 'cat >/dev/null; kill -9 "-$1" 2>/dev/null; exit 0'  # dash: no `--`, no -s


def _no_watch() -> None:
    pass


def _group_watchdog(group: int) -> Callable[[], None]:
    """Kill aiperf's process group once trtl is gone, however it ended: aiperf's services
    arm the parent-death signal, but the workers it forks to check the tokenizer in each
    level's first seconds do not, and a SIGKILLed trtl left them behind. A shell in a
    session of its own reads a pipe whose write end only trtl holds; the kernel closes it
    when trtl dies. Returns what ends the watch (at the level's end: the group is gone)."""
    read, write = os.pipe()
    try:
        shell = subprocess.Popen(
            ["/bin/sh", "-c", WATCHDOG, "trtl-aiperf-watchdog", str(group)],
            stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    except OSError:  # no /bin/sh: aiperf's own parent-death signals still hold
        os.close(write)
        return _no_watch
    finally:
        os.close(read)

    def end() -> None:
        os.close(write)
        shell.wait()

    return end


def _stop(child: subprocess.Popen) -> None:
    """SIGINT to aiperf's group, then SIGKILL: none of its services may outlive trtl."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=INTERRUPT_WAIT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def failure_reason(log_path: Path) -> str:
    """aiperf's own account of a failure: its 'Reason:' box, else its last ERROR line, else
    the exception a traceback ended with, else its last line of text (box borders apart)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no output"
    for i, line in enumerate(lines):
        text = _unboxed(line)
        if text.startswith("Reason:"):
            # The reason box wraps over several lines; it ends at an empty box line.
            parts = [text.removeprefix("Reason:").strip()]
            for more in lines[i + 1 : i + 6]:
                more = _unboxed(more)
                if not more:
                    break
                parts.append(more)
            return " ".join(parts)
    errors = [line for line in lines if " ERROR " in line or line.startswith("Error")]
    if errors:
        return errors[-1].split(" ERROR ", 1)[-1].strip()
    raised = [m for line in lines if (m := EXCEPTION_LINE.match(line))]
    if raised:
        return f"{raised[-1]['type']}: {raised[-1]['text'].strip()}"
    texts = [text for line in lines if (text := _unboxed(line))]
    return texts[-1] if texts else "no output"


# The last line of a traceback: ``package.module.SomeError: what happened``.
EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*(?P<type>[A-Za-z_]\w*(?:Error|Exception)): (?P<text>.+)"
)
BOX_CHARS = "│╭╮╰╯─┃━┏┓┗┛ "


def _unboxed(line: str) -> str:
    """A line of text without rich's box drawing around it ('' for a border line)."""
    return line.strip(BOX_CHARS).strip()
