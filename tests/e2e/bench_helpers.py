"""What the bench tests read back: the table bench printed, PNG headers, what it started."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import psutil


def started_pids(home: Path, name: str) -> list[int]:
    """The supervisor and process PIDs a deployment's state file recorded."""
    path = home / "state" / "trtl" / name / "state.json"
    state = json.loads(path.read_text())
    return [p["pid"] for p in state["processes"] if p["pid"]] + [state["supervisor_pid"]]


def aiperf_processes(out: Path) -> list[int]:
    """aiperf processes (and their services) still writing into ``out``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "aiperf" in cmdline and str(out) in cmdline:
            found.append(proc.pid)
    return found


def table_rows(stdout: str) -> dict[tuple[int, str], list[str]]:
    """(concurrency, figure) -> cells of the rich table bench printed."""
    rows: dict[tuple[int, str], list[str]] = {}
    concurrency = 0
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        concurrency = int(cells[0]) if cells[0] else concurrency
        rows[(concurrency, cells[1])] = cells[2:]
    return rows


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])
