"""`-o FILE` as a user expects of a file: links followed, modes kept, pipes written, no debris."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest
from k8s_helpers import IMAGE

EXPORT = ("export", "--k8s", "agg", "--image", IMAGE)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_symlink_is_written_through_not_replaced(run_trtl, isolated_dirs):
    target = isolated_dirs / "real.yaml"
    link = isolated_dirs / "link.yaml"
    link.symlink_to(target.name)
    result = run_trtl(*EXPORT, "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "real.yaml"
    assert "kind: DynamoGraphDeployment" in target.read_text()
    assert sorted(p.name for p in isolated_dirs.iterdir()) == ["link.yaml", "real.yaml"]


@pytest.mark.parametrize("command", [EXPORT, ("import", "dgd.yaml")])
def test_a_new_file_gets_the_umask_mode_and_an_old_one_keeps_its_own(
    run_trtl, isolated_dirs, umask_022, command
):
    (isolated_dirs / "dgd.yaml").write_text(run_trtl(*EXPORT).stdout)
    out = isolated_dirs / "out.yaml"
    assert run_trtl(*command, "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    out.chmod(0o640)
    assert run_trtl(*command, "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_fifo_is_written_into_not_replaced(run_trtl, isolated_dirs):
    fifo = isolated_dirs / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []

    def read() -> None:
        with open(fifo, encoding="utf-8") as handle:
            got.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = run_trtl(*EXPORT, "-o", str(fifo))
    reader.join(5)  # a writer that renamed over the FIFO leaves it blocked: a daemon thread
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got and "kind: DynamoGraphDeployment" in got[0]


def test_a_write_error_is_one_sentence_and_leaves_no_debris(run_trtl, isolated_dirs, monkeypatch):
    out = isolated_dirs / "out.yaml"
    out.write_text("keep me\n")

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    result = run_trtl(*EXPORT, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: Cannot write {out}: No space left on device."]
    assert out.read_text() == "keep me\n"
    assert [p.name for p in isolated_dirs.iterdir()] == ["out.yaml"]


def test_a_missing_directory_is_one_sentence(run_trtl, isolated_dirs):
    result = run_trtl(*EXPORT, "-o", str(isolated_dirs / "no" / "out.yaml"))
    assert result.exit_code == 2
    assert "Cannot write" in result.stderr and "No such file or directory." in result.stderr
