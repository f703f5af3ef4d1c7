"""Print one line of counts from a pytest JUnit XML report, for scripts/test.sh's summary.

Usage: python scripts/_junit_counts.py REPORT.xml SECONDS
Prints e.g. "412 passed, 0 failed, 3 skipped in 6m 12s", or why there are no counts.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(report: Path) -> str:
    """The passed/failed/skipped counts of every test suite in ``report``."""
    if not report.is_file():
        # pytest writes it at the end: a run stopped at its limit leaves none either.
        return "no report (pytest was stopped before writing one, or never ran a test)"
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped"


def duration(seconds: int) -> str:
    """``seconds`` as "6m 12s" (or "42s")."""
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


if __name__ == "__main__":
    print(f"{counts(Path(sys.argv[1]))} in {duration(int(sys.argv[2]))}")
