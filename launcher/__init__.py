"""Everything local: GPUs, placement, ports, the plan and the ``trtl`` command line."""

from __future__ import annotations

from trtl.profiles.lazy import lazy_exports

# Loaded on first use: `trtl --help` and `trtl schema` should not pay for the plan's imports.
_HOMES = {
    "Gpu": "trtl.launcher.gpus.inventory",
    "Inventory": "trtl.launcher.gpus.inventory",
    "read_inventory": "trtl.launcher.gpus.inventory",
    "Plan": "trtl.launcher.planning.plan",
    "PlanOptions": "trtl.launcher.planning.plan",
    "ProcessPlan": "trtl.launcher.planning.plan",
    "build_plan": "trtl.launcher.planning.plan",
}

__all__ = ["Gpu", "Inventory", "Plan", "PlanOptions", "ProcessPlan", "build_plan", "read_inventory"]

__getattr__ = lazy_exports(__name__, _HOMES)
