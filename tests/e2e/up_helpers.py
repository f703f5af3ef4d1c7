"""Driving the real ``trtl`` command in end-to-end tests: start, wait, inspect, leave nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from trtl.launcher.planning.ports import free_ports
from trtl.launcher.supervision.log_files import SUPERVISOR_LOG, read_tail

from tests.leftovers import describe


def trtl_env(home: Path) -> dict[str, str]:
    """trtl's environment: the test's XDG dirs, plus a private HOME (Dynamo caches model
    cards under $HOME/.cache/dynamo) and no colour."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("NATS_SERVER", None)
    return env


def trtl(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``trtl ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def up_args(profile: str, model: Path, name: str, *extra: str) -> list[str]:
    port = free_ports(1, exclude=set())[0]
    return ["up", profile, "--engine", "mocker", "--model", str(model), "--name", name,
            "--port", str(port), *extra]  # fmt: skip


def status(name: str, home: Path) -> dict:
    result = trtl("status", name, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def chat(url: str, model: str, stream: bool = False) -> str:
    """A real chat completion through the frontend; returns the text."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello"}],
        "max_tokens": 8,
        "stream": stream,
    }
    if not stream:
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]
    parts = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                assert "error" not in chunk, chunk
                for choice in chunk["choices"]:
                    parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


def pids_of(state: dict) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in state["processes"]}


def tree_alive(pids: list[int]) -> list[int]:
    """PIDs, or members of their process groups, that still run (zombies excluded)."""
    left = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in pids or os.getpgid(proc.pid) in pids:
                left.append(proc.pid)
    return left


def processes_of(discovery: str | Path) -> list[int]:
    """Live processes (zombies excluded) whose environment names this discovery directory."""
    mark = f"DYN_FILE_KV={discovery}".encode()  # every process of a deployment has it
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            if stat.rsplit(b")", 1)[1].split()[0] == b"Z":
                continue
            if mark in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.append(int(entry))
    return found


def kill_groups(pids: list[int]) -> None:
    """Last-resort cleanup so a failing test never leaves processes behind."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def up_detached(profile: str, model: Path, name: str, home: Path, *extra: str) -> dict:
    result = trtl(*up_args(profile, model, name, "-d", *extra), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is ready after" in result.stdout
    return status(name, home)


def foreground(profile: str, model: Path, name: str, home: Path, *extra: str):
    return subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", *up_args(profile, model, name, *extra)],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 30) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not seen in:\n{''.join(lines)}")


# Waits for a state change are generous: they cost only when the change does not come, and
# CI shares two cores with whatever else runs.
WAIT_S = 60.0


def wait_ready(name: str, home: Path, timeout: float = WAIT_S) -> dict:
    """The deployment's status once it is ready."""
    return wait_for(lambda: (s := status(name, home))["state"] == "ready" and s, timeout)


def wait_replaced(
    name: str, home: Path, process: str, old_pid: int, timeout: float = WAIT_S
) -> dict:
    """The status once ``process`` runs under a new PID and the deployment is ready again."""
    return wait_for(
        lambda: (
            (s := status(name, home))["state"] == "ready" and pids_of(s)[process] != old_pid and s
        ),
        timeout,
    )


def slow_python(tmp: Path, delay: float, module: str = "dynamo.mocker") -> Path:
    """An interpreter that starts ``module`` (default: mocker workers) ``delay`` seconds
    late, and nothing else: a worker that takes long to register, as a real engine loading
    its weights does."""
    import stat

    wrapper = tmp / f"slow-python-{module}"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$1 $2" in "-m {module}") sleep {delay};; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def deployment_pids(name: str) -> list[int]:
    """PIDs of processes that carry the deployment's discovery directory (whatever runs of it)."""
    from trtl.launcher.deployments.paths import RunDir

    discovery = str(RunDir.for_deployment(name).discovery)
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("DYN_FILE_KV") == discovery and proc.status() != "zombie":
                found.append(proc.pid)
    return found


def machine_report(tmp: Path | None, lines: int = 40) -> str:
    """Load, the busiest processes, and the last lines of every supervisor log under ``tmp``."""
    out = [f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    procs = list(psutil.process_iter())
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.cpu_percent(None)
    time.sleep(0.5)
    busy = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            busy.append((proc.cpu_percent(None), proc))
    busy.sort(key=lambda pair: pair[0], reverse=True)
    out += [f"  {percent:5.1f}% {describe(proc)}" for percent, proc in busy[:8]]
    for log in sorted(tmp.rglob(SUPERVISOR_LOG)) if tmp else []:
        with contextlib.suppress(OSError):
            tail, _ = read_tail(log, lines)
            out += [f"--- {log} (last {len(tail)} lines)", *tail]
    return "\n".join(out)
