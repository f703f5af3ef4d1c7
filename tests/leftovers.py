"""Processes a test run leaves behind: found by a marker in their environment, reported, killed.

A leaked process (a mocker, a busy log writer, a vLLM engine) goes on taking CPU from every
later test and from the next tier; on CI's two cores that once stretched a run past its limit.
Every process started under this pytest run inherits RUN_ENV (trtl passes its environment on
to what it starts), so at the end the run can find what is still alive, whatever its parent.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import psutil

RUN_ENV = "TRTL_TEST_RUN"


def mark_run() -> None:
    """Give this run (the controller; xdist workers inherit it) a marker of its own: a nested
    pytest started by a test gets a new one, so each run only sees its own processes."""
    os.environ[RUN_ENV] = uuid.uuid4().hex


def leftovers() -> list[psutil.Process]:
    """Live processes (zombies excluded) started under this run, other than this one and its
    ancestors."""
    marker = os.environ.get(RUN_ENV)
    if not marker:
        return []
    own = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in own:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(RUN_ENV) == marker:
                found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:200]}"
    return f"pid {proc.pid}"


def kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)
