"""``trtl bench``'s checks before anything starts, and the parts of its stop on a signal
that need no processes: ``-o`` that cannot be a directory, a ``--tokenizer`` that holds no
tokenizer, the "already running" fix, aiperf's reason out of its boxes, and the signal
handler's promises (the first signal raises, a stop in progress is never cut short).
The real processes are in tests/e2e/test_bench_signals.py."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from trtl.launcher.bench.errors import Interrupted
from trtl.launcher.bench.interrupts import StopSignals
from trtl.launcher.bench.loadgen import failure_reason

# --- -o: checked before any graph is planned or started -----------------------------------


def bench_mocker(tiny_model: Path, *extra: str) -> list[str]:
    return ["bench", "agg", "--engine", "mocker", "--model", str(tiny_model),
            "--concurrency", "1", "--requests", "1", *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("afile", "afile is not a directory; give -o a new directory"),
        ("/dev/null", "-o /dev/null is not a directory; give -o a new directory"),
        ("afile/sub", "afile, which is not a directory; give -o a new directory"),
    ],
)
def test_output_that_cannot_be_a_directory_is_one_sentence(
    run_trtl, tiny_model: Path, tmp_path: Path, where: str, message: str
) -> None:
    (tmp_path / "afile").write_text("")
    out = where if where.startswith("/") else str(tmp_path / where)
    result = run_trtl(*bench_mocker(tiny_model, "-o", out))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "internal error" not in result.stderr and "trtl bug" not in result.stderr
    assert not (tmp_path / "state" / "trtl" / "bench-agg").exists()  # nothing planned to start


def test_output_that_cannot_be_created_is_one_sentence(run_trtl, tiny_model: Path) -> None:
    # /proc takes no new directory, not even from root (whom os.access lets write anywhere):
    # creating it is the last check, still before any graph starts.
    result = run_trtl(*bench_mocker(tiny_model, "-o", "/proc/trtl-bench"))
    assert result.exit_code == 2, result.stderr
    assert "/proc/trtl-bench" in result.stderr and "give -o a new directory" in result.stderr
    assert "trtl bug" not in result.stderr


# --- --tokenizer: a directory holding a tokenizer -----------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "holds no tokenizer; give the directory that holds the model's tokenizer.json"),
        ("file", "is not a directory; give the directory"),
        ("missing", "does not exist; give the directory"),
    ],
)
def test_bad_tokenizer_is_named_before_anything_starts(
    run_trtl, tiny_model: Path, tmp_path: Path, kind: str, message: str
) -> None:
    path = tmp_path / kind
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("{}")
    result = run_trtl(*bench_mocker(tiny_model, "--tokenizer", str(path)))
    assert result.exit_code == 2, result.stderr
    assert f"--tokenizer {path} {message}" in result.stderr
    assert "for model" not in result.stderr  # it is the --tokenizer, not a model


def test_the_tiny_models_tokenizer_passes(tiny_model: Path) -> None:
    from trtl.launcher.bench.targets import given_tokenizer

    assert given_tokenizer(str(tiny_model)) == str(tiny_model.resolve())


def test_aiperf_reason_is_the_exception_not_a_box_border(tmp_path: Path) -> None:
    # aiperf 0.13 with --tokenizer of an empty directory: a traceback, then a rich box.
    log = tmp_path / "aiperf.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "aiperf.common.exceptions.TokenizerError: Failed to load tokenizer '/e': "
        "ValueError: Couldn't instantiate the backend tokenizer from one of: \n"
        "(1) a `tokenizers` library serialization file, \n"
        "\n"
        "╭─────────── No Standard Tokenizer ────────────╮\n"
        "│                                              │\n"
        "│  Failed to load tokenizer '/e'               │\n"
        "│  Skip tokenizer: --use-server-token-count    │\n"
        "│                                              │\n"
        "╰──────────────────────────────────────────────╯\n"
    )
    assert failure_reason(log) == (
        "TokenizerError: Failed to load tokenizer '/e': ValueError: Couldn't instantiate "
        "the backend tokenizer from one of:"
    )
    log.write_text("╭── Odd ──╮\n│  something broke   │\n╰─────────╯\n")
    assert failure_reason(log) == "something broke"


# --- a running graph: the fix bench has ---------------------------------------------------


def test_already_running_names_a_fix_bench_has(run_trtl, tiny_model: Path) -> None:
    from trtl.launcher.deployments.lock import DeploymentLock
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import make_private_dir

    run_dir = RunDir.for_deployment("bench-agg")
    make_private_dir(run_dir.root)
    lock = DeploymentLock(run_dir)
    assert lock.acquire()  # as a bench killed before it stopped its graph leaves it
    try:
        result = run_trtl(*bench_mocker(tiny_model))
    finally:
        lock.release()
    assert result.exit_code == 2, result.stderr
    assert "deployment 'bench-agg' is already running" in result.stderr
    assert "`trtl down bench-agg`" in result.stderr and "--name" not in result.stderr


def test_dataset_type_without_input_file_is_refused(run_trtl, tiny_model: Path) -> None:
    result = run_trtl(*bench_mocker(tiny_model, "--dataset-type", "mooncake_trace"))
    assert result.exit_code == 2
    assert "--dataset-type describes --input-file" in result.stderr


# --- stop signals ---------------------------------------------------------------------------


def test_sigterm_raises_once_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stops:
        with pytest.raises(Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a bytecode boundary to run it
        assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"
        os.kill(os.getpid(), signal.SIGINT)  # a second one only counts: the way out runs
        signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert stops.received == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_stop_in_progress_finishes_before_the_signal_ends_bench() -> None:
    done = []
    with StopSignals() as stops, pytest.raises(Interrupted) as caught, stops.shielded():
        os.kill(os.getpid(), signal.SIGHUP)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])
        done.append("stopped")  # not cut short
    assert done == ["stopped"] and caught.value.exit_code == 129
