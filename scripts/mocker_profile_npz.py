#!/usr/bin/env python3
"""Turn a Dynamo profiler results directory into the mocker's timing NPZ, with numpy alone.

Usage: python scripts/mocker_profile_npz.py [PROFILE_DIR] OUT.npz

`python -m dynamo.mocker --planner-profile-data FILE` makes a mocker worker take the
prefill time and inter-token latency a profiled GPU measured, so a graph on the mocker
behaves like that GPU. The mocker reads a ready NPZ (keys prefill_isl, prefill_ttft_ms,
decode_active_kv_tokens, decode_context_length, decode_itl[kv, context]); given a
profiler directory instead it converts it through Dynamo's planner, which needs
aisimulate_core (not installable here). This script does the conversion without it:
prefill points as measured, decode ITL interpolated onto a grid (inverse-distance
weighting of the measured points). PROFILE_DIR defaults to the H200 TP1 profile that ships
with ai-dynamo. Then:

    trtl bench agg disagg --engine mocker --model .cache/tiny-model \\
        --set 'mocker.extra_args=["--planner-profile-data", "OUT.npz"]'
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GRID = 40


def shipped_h200() -> Path:
    from importlib.util import find_spec

    # Located, not imported: importing dynamo.planner needs scikit-learn.
    spec = find_spec("dynamo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("ai-dynamo is not installed; give PROFILE_DIR.")
    base = Path(next(iter(spec.submodule_search_locations))) / "planner"
    return base / "tests" / "data" / "profiling_results" / "H200_TP1P_TP1D"


def convert(profile_dir: Path, out: Path) -> None:
    prefill = np.load(profile_dir / "selected_prefill_interpolation" / "raw_data.npz")
    decode = np.load(profile_dir / "selected_decode_interpolation" / "raw_data.npz")
    order = np.argsort(prefill["prefill_isl"])
    kv = decode["x_kv_usage"] * float(decode["max_kv_tokens"][0])  # usage fraction -> tokens
    ctx = decode["y_context_length"].astype(float)
    itl = decode["z_itl"].astype(float)
    grid_kv = np.linspace(0.0, kv.max(), GRID)
    grid_ctx = np.linspace(max(1.0, ctx.min()), ctx.max(), GRID)
    # Distances on axes scaled to [0, 1], so tokens and context lengths weigh alike.
    kv_n, ctx_n = kv / kv.max(), ctx / ctx.max()
    table = np.empty((GRID, GRID))
    for i, a in enumerate(grid_kv / kv.max()):
        for j, b in enumerate(grid_ctx / ctx.max()):
            weight = 1.0 / (np.hypot(kv_n - a, ctx_n - b) + 1e-6) ** 2
            table[i, j] = float((weight * itl).sum() / weight.sum())
    np.savez(
        out,
        prefill_isl=prefill["prefill_isl"][order].astype(float),
        prefill_ttft_ms=prefill["prefill_ttft"][order].astype(float),
        decode_active_kv_tokens=grid_kv,
        decode_context_length=grid_ctx,
        decode_itl=table,
    )
    print(f"{out}: prefill {len(order)} points, decode ITL {itl.min():.1f}-{itl.max():.1f} ms")


def main() -> None:
    args = sys.argv[1:]
    if len(args) not in (1, 2):
        sys.exit(__doc__.splitlines()[2])
    profile_dir = Path(args[0]) if len(args) == 2 else shipped_h200()
    convert(profile_dir, Path(args[-1]))


if __name__ == "__main__":
    main()
