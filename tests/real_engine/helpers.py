"""Driving ``trtl`` with real vLLM engines: one deployment per test module, inspected, then gone.

A real engine takes a minute or two to load on 2 CPU cores, so each module brings its
deployment up once (``deployment``) and several tests look at it. Timeouts are generous:
other test processes share the cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from trtl.launcher.planning.ports import free_ports

from tests.e2e.up_helpers import kill_groups, processes_of, tree_alive

# Measured: listed after 73 s (agg) and 116 s (disagg) on a busy 2-core machine.
READY_TIMEOUT_S = 600
# The first request after start took 20–26 s (the engine warms up on it); later ones < 1 s.
REQUEST_TIMEOUT_S = 300
# vLLM's own shutdown takes ~10–13 s per worker and trtl's grace default is 30 s; generous
# because a disaggregated pair that starved the machine once made `down` take 130 s (see
# ``Deployment.status``).
DOWN_TIMEOUT_S = 600


def trtl_env(home: Path) -> dict[str, str]:
    """trtl's environment with HOME and XDG dirs pinned to ``home``.

    Pinned here, not taken from os.environ: the deployment outlives the test that started
    it, and the autouse fixture gives every test its own XDG_STATE_HOME.
    """
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env["XDG_STATE_HOME"] = str(home / "state")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env.pop("NATS_SERVER", None)
    return env


def trtl(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``trtl ARGS`` to completion, as a user would from a shell."""
    return subprocess.run(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Deployment:
    """A running deployment and every process of its trees, seen while it ran."""

    name: str
    home: Path
    up_output: str
    state: dict[str, Any]
    tree: dict[int, str] = field(default_factory=dict)  # pid -> process name

    @property
    def url(self) -> str:
        return self.state["frontend_url"]

    @property
    def model(self) -> str:
        return self.state["served_model_name"]

    def status(self) -> dict[str, Any]:
        """``trtl status NAME --json``, run by the CLI's own code in this process.

        Not a new process: a vLLM prefill/decode pair busy-polls (NIXL 1.5.1 polls with no
        delay), and when it had both of 2 cores starting any Python took 10 s to minutes
        (`trtl status` once 3 min for 0.8 s of CPU). trtl now leaves the pair's first core
        free (docs/vllm-cpu.md); reading status here keeps the tests clear of the machine
        whatever it runs.
        """
        return status_of(self.home, self.name)

    def process(self, name: str) -> dict[str, Any]:
        return next(p for p in self.state["processes"] if p["name"] == name)


def status_of(home: Path, name: str) -> dict[str, Any]:
    """What ``trtl status NAME --json`` prints, as a user with ``home`` would see it."""
    from click.testing import CliRunner
    from trtl.launcher.cli import cli

    wanted = trtl_env(home)
    env: dict[str, str | None] = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    env.update((k, None) for k in os.environ if k not in wanted)  # unset there, unset here
    result = CliRunner().invoke(cli, ["status", name, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def collect_tree(state: dict[str, Any]) -> dict[int, str]:
    """PID -> name of the supervisor, every process and all their descendants."""
    roots = [p["pid"] for p in state["processes"] if p["pid"]]
    if state.get("supervisor_pid"):
        roots.append(state["supervisor_pid"])
    tree: dict[int, str] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for member in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    tree[member.pid] = member.name()
    return tree


@contextlib.contextmanager
def deployment(
    profile: str, name: str, home: Path, python: Path, model: Path, *extra: str
) -> Iterator[Deployment]:
    """``trtl up PROFILE --engine vllm -d`` until ready; on exit take it down whatever happened."""
    port = free_ports(1, exclude=set())[0]
    args = ["up", profile, "--engine", "vllm", "--model", str(model), "--python", str(python),
            "--name", name, "--port", str(port), "-d", "--timeout", str(READY_TIMEOUT_S),
            "--set", "vllm.enforce_eager=true", *extra]  # fmt: skip
    seen: dict[int, str] = {}
    try:
        up = trtl(home, *args, timeout=READY_TIMEOUT_S + 120)
        assert up.returncode == 0, f"trtl up failed:\n{up.stdout}\n{up.stderr}"
        result = Deployment(name, home, up.stdout + up.stderr, {})
        result.state = result.status()
        result.tree = seen = collect_tree(result.state)
        yield result
    finally:
        with contextlib.suppress(Exception):
            seen = {**seen, **collect_tree(status_of(home, name))}
        try:
            trtl(home, "down", name, "--grace", "5", timeout=DOWN_TIMEOUT_S)
        finally:
            # Last resort, so a failing test leaves nothing behind: also what a start that
            # never returned spawned (no status to read; their environment names the run).
            kill_groups(list(seen))
            discovery = home / "state" / "trtl" / name / "discovery"
            for pid in processes_of(discovery):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def down(dep: Deployment) -> subprocess.CompletedProcess[str]:
    """``trtl down NAME`` with vLLM's own shutdown time allowed for."""
    return trtl(dep.home, "down", dep.name, timeout=DOWN_TIMEOUT_S)


def left_running(pids: list[int]) -> list[int]:
    """PIDs, or members of their process groups, that still run (zombies excluded)."""
    return tree_alive(pids)


def chat(
    dep: Deployment, prompt: str = "Say hello", max_tokens: int = 12, **fields: Any
) -> dict[str, Any]:
    """A non-streaming chat completion (``fields`` join the request); returns the response."""
    body = {
        "model": dep.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        **fields,
    }
    response = httpx.post(f"{dep.url}/v1/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 200, response.text
    return response.json()


def chat_stream(
    dep: Deployment, prompt: str = "Say hello", max_tokens: int = 12
) -> tuple[list[str], dict[str, Any] | None]:
    """A streaming chat completion; returns the content pieces and the usage chunk's usage."""
    body = {
        "model": dep.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    pieces: list[str] = []
    usage = None
    with httpx.stream(
        "POST", f"{dep.url}/v1/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S
    ) as response:
        assert response.status_code == 200, response.read().decode()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            assert "error" not in chunk, chunk
            usage = chunk.get("usage") or usage
            pieces += [c["delta"]["content"] for c in chunk["choices"] if c["delta"].get("content")]
    return pieces, usage


def metric(dep: Deployment, process: str, name: str) -> float:
    """Sum of every sample of metric ``name`` on a worker's status server (0 if absent)."""
    port = dep.process(process)["ports"]["system"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith((f"{name}{{", f"{name} ")):
            total += float(line.rsplit(" ", 1)[1])
    return total
