#!/usr/bin/env python3
"""Check GPU discovery and placement against a real NVIDIA driver (run on a GPU machine).

Usage: python scripts/check_gpu_placement.py

Reads the inventory through NVML, plans the built-in profiles that fit the machine, and for
each planned worker starts a child with exactly the plan's CUDA_VISIBLE_DEVICES and
CUDA_DEVICE_ORDER to confirm, through CUDA itself (torch), that it sees the GPUs the plan
gave it and no others. Prints one line per check and exits 1 if any fails. CI has no GPU;
this is the manual proof on a lent GPU machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launcher.gpus import read_inventory
from launcher.plan import PlanOptions, build_plan
from profiles.errors import TrtlError
from profiles.loader import load_profile

# What a child with the plan's environment sees, as CUDA numbers it.
PROBE = (
    "import json, torch\n"
    "print(json.dumps([str(torch.cuda.get_device_properties(i).uuid) "
    "for i in range(torch.cuda.device_count())]))"
)


def main() -> int:
    inventory = read_inventory()
    print(f"inventory: {len(inventory.gpus)} GPUs, reason={inventory.reason}")
    for gpu in inventory.gpus:
        memory = f"{gpu.memory_used_mib}/{gpu.memory_total_mib} MiB used"
        print(f"  GPU {gpu.index} {gpu.uuid} {gpu.name} {memory}")
    failures = checks = 0
    for name in ("agg", "agg_router", "disagg", "disagg_router"):
        try:
            plan = build_plan(
                load_profile(name),
                PlanOptions(inherited_cvd=os.environ.get("CUDA_VISIBLE_DEVICES")),
            )
        except TrtlError as exc:
            print(f"{name}: refused: {exc}")
            continue
        for proc in plan.processes:
            if not proc.gpus:
                continue
            env = {**os.environ, **proc.env}
            seen = json.loads(
                subprocess.run(
                    [sys.executable, "-c", PROBE],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            want = [inventory.gpus[i].uuid.removeprefix("GPU-") for i in proc.gpus]
            ok = seen == want
            failures += not ok
            checks += 1
            print(
                f"{name}/{proc.name}: CUDA_VISIBLE_DEVICES={proc.env['CUDA_VISIBLE_DEVICES']} "
                f"plan={proc.gpus} cuda_sees={seen} {'OK' if ok else 'MISMATCH'}"
            )
    print(f"{checks} checks, {failures} failed")
    return 1 if failures or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
