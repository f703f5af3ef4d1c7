"""The plan's data: every process with its argv, env, GPUs and ports (``build_plan`` makes it).

Apart from ``plan.py`` so that running a plan imports neither pydantic nor the profile
models: a plan read back from the plan cache (``plan_cache``) is supervised without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtl.launcher.deployments.paths import RunDir

if TYPE_CHECKING:
    from trtl.profiles.schema import Profile

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ProcessPlan:
    """One process of the deployment."""

    name: str  # "frontend", "prefill-0", "decode-1", ...
    role: str  # "frontend" or the worker role's name
    mode: str | None
    argv: list[str]
    env: dict[str, str]  # what trtl sets on top of the inherited environment
    gpus: list[int]
    ports: dict[str, int]  # "http" for the frontend, "system" for workers
    replica: int = 0
    gpu_reason: str | None = None  # why these GPUs, in words: "GPUs 0,1 are joined by NVLink"
    # The KV-cache memory fraction this replica runs with when it shares a GPU (else None).
    gpu_memory_fraction: float | None = None


@dataclass(frozen=True)
class Plan:
    """Every process of one deployment, plus what is needed to run it."""

    deployment: str
    profile: Profile
    namespace: str
    frontend_url: str
    run_dir: RunDir
    processes: list[ProcessPlan]
    # Files to write before starting: engine configs the workers read.
    files: dict[Path, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    gpu_source: str | None = None
    gpu_skipped: dict[int, str] = field(default_factory=dict)  # GPU index -> why left out
    gpu_shared: bool = False  # --share-gpus packed several workers onto one GPU
    cpu_only: bool = False  # no GPU: the workers run on CPU cores
    http_host: str = LOOPBACK  # where the frontend listens (--host)

    def to_json(self) -> dict[str, Any]:
        """The stable form scripts read: ``trtl plan --json``."""
        return {
            "deployment": self.deployment,
            "profile": self.profile.name,
            "engine": self.profile.engine,
            "model": self.profile.model,
            "served_model_name": self.profile.served_name,
            "frontend_url": self.frontend_url,
            "run_dir": str(self.run_dir.root),
            "processes": [
                {
                    "name": p.name,
                    "role": p.role,
                    "mode": p.mode,
                    "argv": p.argv,
                    "env": p.env,
                    "gpus": p.gpus,
                    "ports": p.ports,
                    "gpu_reason": p.gpu_reason,
                    "gpu_memory_fraction": p.gpu_memory_fraction,
                }
                for p in self.processes
            ],
            "files": {str(path): content for path, content in self.files.items()},
            "notes": self.notes,
            "gpu_placement": {
                "source": self.gpu_source,
                "shared": self.gpu_shared,
                "cpu_only": self.cpu_only,
                "skipped": [
                    {"index": index, "reason": reason} for index, reason in self.gpu_skipped.items()
                ],
            },
        }
