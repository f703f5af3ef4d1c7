"""trtl's own threads yield the CPU to the processes it starts.

On a small machine every millisecond of CPU trtl takes while its processes start delays
them: trtl's threads (log followers, the prober, the terminal writer, the imports behind a
cached start) run at the lowest priority, so they take only what the processes leave.
Linux keeps the nice value per thread: the main thread, which spawns every process (and
every restart: the parent-death signal belongs to the spawning thread), keeps its
priority, and so do the processes. A thread lowered here cannot be raised again without
privileges; threads it starts inherit its priority, so none of them may spawn.
"""

from __future__ import annotations

import os
import sys

LOWEST = 19


def yield_cpu() -> None:
    """Give the calling thread the lowest CPU priority (Linux: this thread only)."""
    if not hasattr(os, "setpriority") or not _per_thread():
        return
    try:  # noqa: SIM105 - contextlib may not be loaded yet (a cached start's imports)
        os.setpriority(os.PRIO_PROCESS, 0, LOWEST)
    except OSError:
        pass  # a container may forbid it: only a little slower then


def _per_thread() -> bool:
    # Elsewhere (macOS, BSD) PRIO_PROCESS 0 is the whole process: the spawning thread too.
    return sys.platform.startswith("linux")
