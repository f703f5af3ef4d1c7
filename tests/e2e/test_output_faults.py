"""Output faults under load: a stopped supervisor and a full disk never stop serving.

Real ``trtl up -d`` deployments (the real Dynamo frontend and mocker) log at trace level,
megabytes per few requests, while a streaming load runs (``load.py``). Before processes
wrote straight into their log files, a SIGSTOPped supervisor stopped reading their pipes:
the pipes filled after about a megabyte and the workers blocked on their next log line.
The full-disk tests need a filesystem they may fill: a small tmpfs mounted over the test's
state directory (that takes root; elsewhere they are skipped with that reason).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.load import StreamingLoad
from tests.e2e.up_helpers import status, trtl, up_args, wait_for, wait_ready

PIPE_BYTES = 2**20  # what a pipe held for a process before it blocked (F_SETPIPE_SZ)
TRACE = ["--set", "env.DYN_LOG=trace", "--set", "mocker.speedup_ratio=1"]


def _log_bytes(state: dict) -> dict[str, int]:
    return {p["name"]: Path(p["log"]).stat().st_size for p in state["processes"]}


def _up(name: str, model: Path, home: Path, *extra: str) -> dict:
    result = trtl(*up_args("agg", model, name, "-d", *TRACE, *extra), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    return wait_ready(name, home)


def test_a_stopped_supervisor_never_freezes_serving(tiny_model, home, deployments):
    name = "t-sigstop"
    deployments.append(name)
    state = _up(name, tiny_model, home)
    url, model, supervisor = (
        state["frontend_url"],
        state["served_model_name"],
        state["supervisor_pid"],
    )
    before = _log_bytes(state)
    os.kill(supervisor, signal.SIGSTOP)  # what Ctrl-Z does to a foreground `trtl up`
    with StreamingLoad(url, model, requests=24, concurrency=4, max_tokens=200) as load:
        report = load.join(timeout=120)
    assert report.failed == [], report.summary()
    grown = {n: size - before[n] for n, size in _log_bytes(state).items()}
    # Each process wrote more than its pipe ever held, with nobody reading meanwhile.
    assert all(size > PIPE_BYTES for size in grown.values()), grown

    # `down` of the still stopped supervisor: the supervisor itself takes the SIGTERM (it
    # is continued), drains and stops everything, instead of being killed after waiting.
    down = trtl("down", name, home=home, timeout=40)
    assert down.returncode == 0, down.stderr
    assert f"{name!r} stopped; nothing left running" in down.stderr
    log = Path(state["run_dir"], "supervisor.log").read_text()
    assert "SIGTERM: stopping" in log and "nothing left running" in log, log
    assert status(name, home)["state"] == "stopped"


# -- a full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk():
    """The test's state directory on a 48 MiB tmpfs; yields a function that fills it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill takes root")
    where = Path(os.environ["XDG_STATE_HOME"])  # the test's own (tests/conftest.py)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(where)],
                   check=True)  # fmt: skip
    filler = where / "filler"

    def fill() -> None:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        finally:
            os.close(fd)

    fill.filler = filler  # type: ignore[attr-defined]
    yield fill
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_never_takes_serving_down(small_disk, tiny_model, home, deployments):
    name = "t-fulldisk"
    deployments.append(name)
    state = _up(name, tiny_model, home, "--log-size", "4", "--log-files", "1")
    url, model, supervisor = (
        state["frontend_url"],
        state["served_model_name"],
        state["supervisor_pid"],
    )
    worker_log = Path(state["run_dir"], "logs", "worker-0.log")
    small_disk()
    # On tmpfs a rotation punches a hole: the file's apparent size is all it ever held.
    written_before = worker_log.stat().st_size
    with StreamingLoad(url, model, requests=24, concurrency=4, max_tokens=200) as load:
        report = load.join(timeout=120)
    assert report.failed == [], report.summary()
    served_while_full = len(report.ok)
    now = status(name, home)
    assert now["state"] == "ready" and now["supervisor_pid"] == supervisor
    assert {p["restarts"] for p in now["processes"]} == {0}

    # Space returns: logging goes on, with a note saying for how long the disk was full and
    # how much of the log trtl dropped meanwhile to keep room for the worker's lines.
    written_while_full = worker_log.stat().st_size - written_before
    small_disk.filler.unlink()
    with StreamingLoad(url, model, requests=4, concurrency=4, max_tokens=50) as load:
        assert load.join(timeout=60).failed == []
    wait_for(lambda: "the disk was full for" in worker_log.read_text(errors="replace"), 10)
    note = re.search(
        r"the disk was full for \d+ s \(from [\d:]+\); (\d+) lines \((\d+) bytes\) of this "
        r"log were dropped to make room for new ones(; the process may also have lost)?",
        worker_log.read_text(errors="replace"),
    )
    assert note, worker_log.read_text(errors="replace")[-2000:]
    lines, dropped = int(note[1]), int(note[2])
    # Trace lines are longer than 20 bytes; nothing dropped was never written; and what
    # the worker wrote while the disk was full was dropped (counted), except what it wrote
    # into its 1 MiB reserve after the last drop (trtl drops when half of it is used).
    assert lines > 0 and 20 * lines <= dropped <= worker_log.stat().st_size
    assert dropped >= written_while_full - 2 * 2**20, (dropped, written_while_full)
    assert note[3] is None, "the worker may have lost lines: trtl did not keep up"
    # Rotation kept each process within its files: the current one and one older copy.
    logs = sorted(p.name for p in worker_log.parent.iterdir())
    assert set(logs) <= {f"{n}.log{s}" for n in ("frontend", "worker-0") for s in ("", ".1")}
    # What the disk holds of each (its apparent size includes the holes).
    assert all(p.stat().st_blocks * 512 < 6 * 2**20 for p in worker_log.parent.iterdir())
    down = trtl("down", name, home=home, timeout=60)
    assert down.returncode == 0, down.stderr
    assert served_while_full == 24


def test_starting_on_a_full_disk_is_one_sentence(small_disk, tiny_model, home):
    small_disk()
    result = trtl(*up_args("agg", tiny_model, "t-nospace", "-d"), home=home)
    assert result.returncode != 0
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "is full" in result.stderr and "XDG_STATE_HOME" in result.stderr, result.stderr


def test_old_logs_trtl_set_aside_do_not_keep_the_next_start_off_a_full_disk(
    small_disk, tiny_model, home, deployments
):
    """A killed start leaves the older logs it set aside (``.old.*``, deleted once a graph
    is ready); when they are what fills the disk, the next start deletes them and starts."""
    name = "t-aside-full"
    deployments.append(name)
    aside = Path(os.environ["XDG_STATE_HOME"]) / "trtl" / name / ".old.1.2.logs.previous"
    aside.mkdir(parents=True)
    fd = os.open(aside / "worker-0.log", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass  # the disk is full
    finally:
        os.close(fd)
    result = trtl(*up_args("agg", tiny_model, name, "-d"), home=home)
    assert result.returncode == 0, result.stderr
    assert not aside.exists()
    down = trtl("down", name, home=home, timeout=60)
    assert down.returncode == 0, down.stderr
