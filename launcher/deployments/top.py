"""``trtl top``: what a running deployment is doing now, refreshed every interval.

Each refresh reads the state file (so a scale or apply shows at once), the CPU and memory
of every process tree (psutil), GPU memory and utilisation where NVML sees GPUs, and the
Prometheus ``/metrics`` of the frontend and of every worker's status server. Rates and
latency quantiles cover the last interval: they come from two scrapes, the previous
refresh's and this one's. ``snapshot`` returns the plain dict ``top --once --json``
prints; ``render`` turns the same dict into the rich view, so the two never disagree.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from trtl.launcher.deployments import metrics as m
from trtl.launcher.deployments.lifecycle import ALIVE
from trtl.launcher.deployments.state import DeploymentState

# Engines name the same facts apart: the mocker and vLLM with vllm:*, TensorRT-LLM through
# Dynamo's KV stats. Fractions (0..1) unless the name says percent.
KV_USAGE = (
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "dynamo_component_kvstats_gpu_cache_usage_percent",
)
PREFIX_HIT_GAUGE = ("dynamo_component_kvstats_gpu_prefix_cache_hit_rate",)
QUEUED = ("vllm:num_requests_waiting", "dynamo_request_queue")
GENERATE = {"dynamo_endpoint": "generate"}
FRONTEND = "dynamo_frontend_"


class TopCollector:
    """Keeps what one refresh needs from the previous one: scrapes and psutil handles."""

    def __init__(self) -> None:
        self._scrapes: dict[str, tuple[float, m.Samples]] = {}
        self._procs: dict[int, Any] = {}  # pid -> psutil.Process (cpu_percent needs the same)

    def snapshot(self, state: DeploymentState) -> dict[str, Any]:
        """Everything ``top`` shows about ``state``'s deployment now."""
        live = {p.name: p.pid for p in state.processes if p.pid and p.state in ALIVE}
        usage = _gpu_usage(state, live)
        processes = []
        for proc in state.processes:
            row: dict[str, Any] = {
                "name": proc.name,
                "role": proc.role,
                "pid": proc.pid if proc.name in live else None,
                "state": proc.state,
                "restarts": proc.restarts,
                **self._tree(live.get(proc.name)),
                **_gpu_columns(usage, proc.name),
            }
            port = proc.ports.get("system")
            if proc.role != "frontend" and port and proc.name in live:
                row["metrics"] = self._worker(f"http://127.0.0.1:{port}/metrics")
            processes.append(row)
        return {
            "deployment": state.deployment,
            "state": state.state,
            "frontend_url": state.frontend_url,
            "model": state.served_model_name,
            "time": time.time(),
            "frontend": self._frontend(f"{state.frontend_url}/metrics"),
            "processes": processes,
            "gpus": usage.to_json()["gpus"] if usage is not None else [],
        }

    # -- processes ------------------------------------------------------------------------

    def _tree(self, pid: int | None) -> dict[str, Any]:
        """CPU % and resident memory of ``pid`` and its descendants."""
        import psutil

        if pid is None:
            return {"cpu_percent": None, "memory_mib": None}
        try:
            root = self._handle(pid)
            members = [root, *(self._handle(c.pid) for c in root.children(recursive=True))]
        except psutil.Error:
            return {"cpu_percent": None, "memory_mib": None}
        cpu = rss = 0.0
        for member in members:
            with contextlib.suppress(psutil.Error):
                cpu += member.cpu_percent(None)
                rss += member.memory_info().rss
        return {"cpu_percent": round(cpu, 1), "memory_mib": round(rss / 2**20, 1)}

    def _handle(self, pid: int):
        import psutil

        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():
            proc = self._procs[pid] = psutil.Process(pid)
            proc.cpu_percent(None)  # the first reading only starts the clock
        return proc

    # -- metrics --------------------------------------------------------------------------

    def _pair(self, url: str) -> tuple[m.Samples | None, m.Samples | None, float]:
        """(previous scrape, this scrape, seconds between them) of one /metrics page."""
        now = m.scrape(url)
        at = time.monotonic()
        before, seconds = None, 0.0
        if url in self._scrapes:
            then, before = self._scrapes[url]
            seconds = at - then
        if now is None:
            self._scrapes.pop(url, None)
        else:
            self._scrapes[url] = (at, now)
        return before, now, seconds

    def _frontend(self, url: str) -> dict[str, Any]:
        before, now, seconds = self._pair(url)
        if now is None:
            return {"reachable": False}

        def latency(name: str, q: float) -> float | None:
            return _round(m.interval_quantile(q, before, now, FRONTEND + name), 4)

        requests = FRONTEND + "requests_total"
        return {
            "reachable": True,
            # A counter not on the page yet has counted nothing yet.
            "requests_total": _int(m.total(now, requests) or 0),
            "failed_total": _int(_failed(now, requests) or 0),
            "requests_per_s": _round(m.rate(before, now, seconds, requests)),
            "inflight": _int(m.total(now, FRONTEND + "inflight_requests")),
            "queued": _int(m.total(now, FRONTEND + "queued_requests")),
            "ttft_p50_s": latency("time_to_first_token_seconds", 0.5),
            "ttft_p95_s": latency("time_to_first_token_seconds", 0.95),
            "itl_p50_s": latency("inter_token_latency_seconds", 0.5),
            "itl_p95_s": latency("inter_token_latency_seconds", 0.95),
            "output_tokens_total": _int(m.total(now, FRONTEND + "output_tokens_total") or 0),
            "output_tokens_per_s": _round(
                m.rate(before, now, seconds, FRONTEND + "output_tokens_total")
            ),
        }

    def _worker(self, url: str) -> dict[str, Any]:
        before, now, seconds = self._pair(url)
        if now is None:
            return {"reachable": False}
        requests = "dynamo_component_requests_total"
        return {
            "reachable": True,
            "requests_total": _int(m.total(now, requests, **GENERATE) or 0),
            "requests_per_s": _round(m.rate(before, now, seconds, requests, **GENERATE)),
            "inflight": _int(m.total(now, "dynamo_component_inflight_requests", **GENERATE)),
            "queued": _int(m.first_total(now, QUEUED)),
            "kv_cache_usage_percent": _percent(m.first_total(now, KV_USAGE)),
            "prefix_cache_hit_percent": _prefix_hits(before, now),
        }


def _failed(samples: m.Samples, name: str) -> float | None:
    found = samples.get(name, [])
    values = [v for labels, v in found if labels.get("status", "success") != "success"]
    return sum(values) if name in samples else None


def _prefix_hits(before: m.Samples | None, now: m.Samples) -> float | None:
    """Prefix-cache hits over queries in the interval (vLLM), else the engine's own rate."""
    hits = m.increase(before, now, "vllm:prefix_cache_hits_total")
    queries = m.increase(before, now, "vllm:prefix_cache_queries_total")
    if hits is not None and queries:
        return round(100.0 * hits / queries, 1)
    return _percent(m.first_total(now, PREFIX_HIT_GAUGE))


def _percent(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value * 100.0 if value <= 1.0 else value, 1)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _gpu_usage(state: DeploymentState, live: dict[str, int]):
    """NVML is asked only when a live process of the deployment was given GPUs."""
    on_gpus = {p.name: live[p.name] for p in state.processes if p.gpus and p.name in live}
    if not on_gpus:
        return None
    from trtl.launcher.gpus.usage import gpu_usage

    return gpu_usage(on_gpus)


def _gpu_columns(usage, name: str) -> dict[str, Any]:
    held = usage.processes.get(name) if usage is not None else None
    if held is None:
        return {"gpu_memory_mib": None, "gpu_util_percent": None}
    loads = [g.utilization_percent for g in usage.gpus if g.index in held.gpus]
    known = [u for u in loads if u is not None]
    return {
        "gpu_memory_mib": held.memory_mib,
        "gpu_util_percent": max(known) if known else None,
    }
