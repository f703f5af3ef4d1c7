"""When a process started, as psutil tells it (``create_time``), read without psutil.

Importing psutil costs a few milliseconds of CPU; ``trtl up`` needs the time of every
process it spawns (and its own) while the graph starts beside it, on a machine that may
have two cores. psutil's value on Linux is the boot time plus the start ticks of
``/proc/PID/stat``; this computes the same (``is_same_process`` allows 50 ms either way).
"""

from __future__ import annotations

import os


def create_time_of(pid: int) -> float | None:
    """psutil's create time (boot time + start ticks), read from /proc without importing
    psutil: that import would cost the processes starting beside it CPU time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
        return ticks / _CLOCK_TICKS + _boot_time()
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


_BOOT_TIME: list[float] = []  # read once: /proc/stat is long on a machine with many CPUs


def _boot_time() -> float:
    if not _BOOT_TIME:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime"):
                    _BOOT_TIME.append(float(line.split()[1]))
                    break
            else:
                raise ValueError("no btime in /proc/stat")
    return _BOOT_TIME[0]
