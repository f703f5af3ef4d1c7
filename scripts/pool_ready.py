#!/usr/bin/env python3
"""Pool several `bench_ready.py --raw FILE` runs into one figure per profile.

Usage: python scripts/pool_ready.py RUN.json [RUN.json ...]

Every round of every run is one pair (trtl, bare launch) taken at the same moment of the
machine; pooled, the rounds of runs of the same trtl give a median with a narrower
interval than any one run. Printed per profile: the number of rounds, the ratio of the
medians, the median of the rounds' own ratios with its 90 % bootstrap interval, and the
same for two identical bare launches (A/A) where the runs measured them
(`--bare-same-ports`): what the method resolves on this machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs


def pool(paths: list[Path]) -> dict[str, dict[str, list[float]]]:
    """Per profile: every run's trtl and bare rounds, and as "a_a_same"/"a_a_bare" the
    rounds of the runs that also launched bare with the same ports (their A/A pairs)."""
    pooled: dict[str, dict[str, list[float]]] = {}
    for path in paths:
        for profile, launches in json.loads(path.read_text())["seconds"].items():
            into = pooled.setdefault(profile, {})
            for launcher in ("trtl", "bare"):
                into.setdefault(launcher, []).extend(launches[launcher])
            if "bare_same" in launches:
                into.setdefault("a_a_same", []).extend(launches["bare_same"])
                into.setdefault("a_a_bare", []).extend(launches["bare"])
    return pooled


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not paths:
        sys.exit(__doc__.split("\n\n")[1])
    for path in paths:
        run = json.loads(path.read_text())["run"]
        print(f"{path}: {run['date']}, commit {run['trtl commit']}, load {run['load average']}"
              f" → {run['load at the end']}; {' '.join(run['argv'])}")  # fmt: skip
    rows = []
    for profile, launches in pool(paths).items():
        trtl, bare = launches["trtl"], launches["bare"]
        row = [profile, str(len(trtl)), f"{bench.median(trtl) / bench.median(bare):.3f}",
               *bench.paired_cells(bench.paired_ratio(trtl, bare))]  # fmt: skip
        if "a_a_same" in launches:
            a_a = bench.paired_ratio(launches["a_a_same"], launches["a_a_bare"])
            row += [*bench.paired_cells(a_a), str(len(launches["a_a_same"]))]
        else:
            row += ["-", "-", "0"]
        rows.append(row)
    print()
    bench.table(["profile", "rounds", "ratio of medians", "paired trtl/bare", "90 % interval",
                 "A/A paired", "A/A interval", "A/A rounds"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
