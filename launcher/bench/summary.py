"""A benchmark's result and its results directory.

    DIR/summary.json       every graph, every level (what `--json` prints)
    DIR/summary.csv        one row per graph and level, the same numbers
    DIR/machine.json       versions (trtl, aiperf, Python, ai-dynamo) and the machine
    DIR/<graph>/profile.yaml, plan.json   the resolved profile and plan (or state.json)
    DIR/<graph>/c<N>/      aiperf's raw artifacts of level N (and aiperf.log)
    DIR/pareto.png, ttft.png, itl.png

The summary is rewritten after every level, so a sweep that fails or is interrupted
halfway still leaves the levels that finished.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtl.launcher.bench.errors import BenchError
from trtl.launcher.bench.figures import LEVEL_FIELDS, Level
from trtl.launcher.bench.workload import Workload

SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
MACHINE_JSON = "machine.json"
OUTPUT_FIX = "give -o a new directory, or one you can write to"


@dataclass
class BenchRun:
    """One graph under the workload: where it ran and its levels so far."""

    label: str  # the profile or deployment name, as the table heads it
    url: str
    model: str
    engine: str = ""
    deployment: str = ""
    gpus: list[int] = field(default_factory=list)
    workers: int = 0  # worker processes (frontend excluded)
    levels: list[Level] = field(default_factory=list)
    error: str | None = None  # why the run stopped before its last level

    @property
    def unit(self) -> str | None:
        """What throughput is divided by: "GPU", "process" (no GPU), or None (unknown)."""
        if self.gpus:
            return "GPU"
        return "process" if self.workers else None

    @property
    def units(self) -> int | None:
        return len(self.gpus) or self.workers or None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "url": self.url,
            "model": self.model,
            "engine": self.engine,
            "deployment": self.deployment,
            "gpus": self.gpus,
            "workers": self.workers,
            "per": self.unit,
            "levels": [level.to_json() for level in self.levels],
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchRun:
        run = cls(
            **{k: data[k] for k in ("label", "url", "model", "engine", "deployment") if k in data}
        )
        run.gpus = list(data.get("gpus", []))
        run.workers = int(data.get("workers", 0))
        run.levels = [Level.from_json(level) for level in data.get("levels", [])]
        run.error = data.get("error")
        return run


@dataclass
class BenchSummary:
    """The whole benchmark: the workload, every graph, and whether it ran to the end."""

    workload: Workload
    runs: list[BenchRun] = field(default_factory=list)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    complete: bool = False
    interrupted: bool = False
    directory: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "directory": self.directory,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "workload": self.workload.to_json(),
            "runs": [run.to_json() for run in self.runs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchSummary:
        return cls(
            workload=Workload.from_json(data["workload"]),
            runs=[BenchRun.from_json(run) for run in data.get("runs", [])],
            created=data.get("created", ""),
            complete=bool(data.get("complete")),
            interrupted=bool(data.get("interrupted")),
            directory=data.get("directory", ""),
        )


def csv_rows(summary: BenchSummary) -> list[dict[str, Any]]:
    """One row per graph and level: the graph's identity, then the level's figures."""
    rows = []
    for run in summary.runs:
        for level in run.levels:
            row: dict[str, Any] = {"label": run.label, "engine": run.engine, "per": run.unit}
            row.update(level.to_json())
            rows.append(row)
    return rows


CSV_COLUMNS = ["label", "engine", "per", *LEVEL_FIELDS]


def write_summary(directory: Path, summary: BenchSummary) -> None:
    """Write summary.json and summary.csv, each replaced atomically."""
    summary.directory = str(directory)
    _atomic(directory / SUMMARY_JSON, json.dumps(summary.to_json(), indent=1) + "\n")
    tmp = directory / f".{SUMMARY_CSV}.tmp"
    with open(tmp, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(summary))
    os.replace(tmp, directory / SUMMARY_CSV)


def read_summary(directory: Path) -> BenchSummary:
    """The summary stored in ``directory``. Raises BenchError if there is none."""
    path = directory / SUMMARY_JSON
    try:
        return BenchSummary.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise BenchError(
            f"{directory} holds no trtl bench result ({SUMMARY_JSON} is missing).",
            hint="Give the directory `trtl bench` printed at its end.",
            exit_code=2,
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path} is unreadable ({type(exc).__name__}: {exc}).") from exc


def write_json(path: Path, data: Any) -> None:
    _atomic(path, json.dumps(data, indent=1, default=str) + "\n")


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def machine_info(aiperf_version: str) -> dict[str, Any]:
    """Versions and the machine, so a result can be told apart from another machine's."""
    from importlib import metadata

    from trtl.launcher.gpus.inventory import read_inventory

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    inventory = read_inventory()
    return {
        "trtl": version("trtl"),
        "aiperf": aiperf_version,
        "ai-dynamo": version("ai-dynamo"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "gpus": [
            {"index": g.index, "name": g.name, "memory_total_mib": g.memory_total_mib}
            for g in inventory.gpus
        ],
        "gpu_note": inventory.reason,
    }


def default_directory(labels: list[str]) -> Path:
    """``$XDG_STATE_HOME/trtl/bench/<time>-<graphs>``: a new directory per run."""
    from trtl.launcher.deployments.paths import state_home

    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-vs-".join(labels)[:80] or "bench"
    return state_home() / "bench" / f"{stamp}-{name}"


def check_output(directory: Path) -> None:
    """``-o DIR`` can be the results directory: a directory, or a path that can become one,
    that this user can write. Checked before anything is planned or started; creating it
    (``BenchSession.run``) is the last word. Raises BenchError (exit 2)."""
    fix = OUTPUT_FIX
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == directory else f"is under {existing}, which is"
        raise BenchError(f"-o {directory} {what} not a directory; {fix}.", exit_code=2)
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == directory else f" ({existing})"
        raise BenchError(f"-o {directory}: you cannot write there{where}; {fix}.", exit_code=2)
