"""Constants and helpers shared by the Kubernetes export tests."""

from __future__ import annotations

from pathlib import Path

from trtl.profiles.engines import engine_names
from trtl.profiles.loader import load_profile

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
# The operator's CRD, copied into the repository (see data/crd/README.md).
CRD = DATA / "crd" / "nvidia.com_dynamographdeployments.yaml"
BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
ENGINES = list(engine_names())  # every engine of the registry
VERSIONS = ["v1beta1", "v1alpha1"]
IMAGE = "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.6.1"
UPSTREAM = sorted(p.name for p in DATA.glob("*.yaml"))


def builtin(name: str, engine: str = "trtllm"):
    """A built-in profile with an image, as a user would export it."""
    return load_profile(name, engine=engine, overrides=[f"k8s.image={IMAGE}"])
