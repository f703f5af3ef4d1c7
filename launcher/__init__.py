"""Everything local: GPUs, placement, ports, the plan and the ``trtl`` command line."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: `trtl --help` and `trtl schema` should not pay for the plan's imports.
_HOMES = {
    "Gpu": ".gpus",
    "Inventory": ".gpus",
    "read_inventory": ".gpus",
    "Plan": ".plan",
    "PlanOptions": ".plan",
    "ProcessPlan": ".plan",
    "build_plan": ".plan",
}

__all__ = ["Gpu", "Inventory", "Plan", "PlanOptions", "ProcessPlan", "build_plan", "read_inventory"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
