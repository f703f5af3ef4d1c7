"""Everything local: GPUs, placement, ports, the plan and the ``trtl`` command line."""

from __future__ import annotations

from profiles.lazy import lazy_exports

# Loaded on first use: `trtl --help` and `trtl schema` should not pay for the plan's imports.
_HOMES = {
    "Gpu": "launcher.gpus.inventory",
    "Inventory": "launcher.gpus.inventory",
    "read_inventory": "launcher.gpus.inventory",
    "Plan": "launcher.planning.plan",
    "PlanOptions": "launcher.planning.plan",
    "ProcessPlan": "launcher.planning.plan",
    "build_plan": "launcher.planning.plan",
}

__all__ = ["Gpu", "Inventory", "Plan", "PlanOptions", "ProcessPlan", "build_plan", "read_inventory"]

__getattr__ = lazy_exports(__name__, _HOMES)
