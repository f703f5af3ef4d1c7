"""The figures trtl reports for one concurrency level, read from aiperf's artifacts.

aiperf writes ``profile_export_aiperf.json`` (aggregates with percentiles) beside its raw
per-request records. trtl keeps a flat record per level, so the JSON, the CSV and the
table are the same numbers. Throughput per GPU is trtl's own: output tokens/s divided by
the GPUs trtl placed the graph's workers on (or by its worker processes, for a graph with
no GPU), never aiperf's telemetry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from trtl.launcher.bench.errors import BenchError

AIPERF_JSON = "profile_export_aiperf.json"


@dataclass
class Level:
    """One concurrency level of one graph: what a user compares."""

    concurrency: int
    requests: int  # answered without error
    errors: int
    ttft_p50_ms: float
    ttft_p90_ms: float
    ttft_p99_ms: float
    # None: every answer came in one chunk, so there was no gap between tokens to measure.
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    requests_per_s: float
    output_tok_s: float
    output_tok_s_per_unit: float | None  # per GPU, or per worker process without GPUs
    output_tok_s_per_user: float  # the median request's (the mean is skewed by short bursts)
    duration_s: float
    artifacts: str = ""  # the aiperf artifact directory, relative to the results directory
    gpu_util_mean: float | None = None  # NVML samples while the level ran, over its GPUs
    gpu_util_max: float | None = None
    gpu_mem_max_mib: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Level:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


LEVEL_FIELDS = [f.name for f in fields(Level)]


def read_level(artifact_dir: Path, concurrency: int, units: int | None) -> Level:
    """The level's figures from aiperf's JSON in ``artifact_dir``. Raises BenchError.

    ``units`` is the number of GPUs (or worker processes) to divide throughput by; None
    when unknown (a bare --url).
    """
    path = artifact_dir / AIPERF_JSON
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"aiperf left no readable results in {path} ({exc}).") from exc

    def stat(key: str, name: str = "avg") -> float:
        return measured(key, name) or 0.0

    def measured(key: str, name: str) -> float | None:
        value = (data.get(key) or {}).get(name)
        return float(value) if value is not None else None

    output_tok_s = stat("output_token_throughput")
    return Level(
        concurrency=concurrency,
        requests=int(stat("request_count")),
        errors=_errors(data),
        ttft_p50_ms=stat("time_to_first_token", "p50"),
        ttft_p90_ms=stat("time_to_first_token", "p90"),
        ttft_p99_ms=stat("time_to_first_token", "p99"),
        itl_p50_ms=measured("inter_token_latency", "p50"),
        itl_p99_ms=measured("inter_token_latency", "p99"),
        requests_per_s=stat("request_throughput"),
        output_tok_s=output_tok_s,
        output_tok_s_per_unit=output_tok_s / units if units else None,
        output_tok_s_per_user=_per_user(data),
        duration_s=stat("benchmark_duration"),
    )


def _per_user(data: dict[str, Any]) -> float:
    """The median request's output tokens/s: aiperf's per-user figure (from the inter-token
    latency), or, where the engine streamed every token in one chunk and there is no
    inter-token latency, its end-to-end one (output tokens over the request's latency)."""
    for key in ("output_token_throughput_per_user", "e2e_output_token_throughput"):
        value = (data.get(key) or {}).get("p50")
        if value:
            return float(value)
    return 0.0


def _errors(data: dict[str, Any]) -> int:
    """Failed requests: aiperf's error count, else the sum of its error summary."""
    counted = (data.get("error_request_count") or {}).get("avg")
    if counted is not None:
        return int(counted)
    return sum(int(entry.get("count", 0)) for entry in data.get("error_summary") or [])
