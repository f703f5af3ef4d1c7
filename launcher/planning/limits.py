"""How big a graph this machine may run: refused before anything starts, not after 1,002
processes starved every other deployment of two cores.

A stated maximum holds everywhere; below it, the machine's cores and available memory
bound the number of processes (each Dynamo process, frontend or mocker worker, is a Python
interpreter with Dynamo's runtime: a few hundred MiB, and a share of a core while it starts
and polls).
"""

from __future__ import annotations

import os

MAX_PROCESSES = 128  # whatever the machine: a graph this big is a typo in replicas
PROCESSES_PER_CORE = 8
PROCESS_MEMORY_MIB = 256


def process_limit(
    cores: int | None = None, available_mib: int | None = None, *, running: int = 0
) -> tuple[int, str]:
    """(how many processes this machine can hold, why that many). ``running``: processes
    of this very graph that run now (``scale``, ``apply``): the memory they hold counts as
    available, as it would be to a fresh ``trtl up`` of the graph."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if available_mib is None:
        import psutil

        available_mib = psutil.virtual_memory().available // (1024 * 1024)
        available_mib += running * PROCESS_MEMORY_MIB
    per_core = f"{PROCESSES_PER_CORE} per CPU core, {cores} core{'' if cores == 1 else 's'}"
    limits = [
        (MAX_PROCESSES, f"trtl's maximum of {MAX_PROCESSES}"),
        (cores * PROCESSES_PER_CORE, per_core),
        (available_mib // PROCESS_MEMORY_MIB, f"{available_mib} MiB of memory available"),
    ]
    return min(limits)


def check_graph_size(
    count: int,
    profile: str,
    *,
    stated_only: bool = False,
    running: int = 0,
    hint: str = "Lower the replicas, e.g. --set workers.ROLE.replicas=2.",
) -> None:
    """Refuse a graph of ``count`` processes the machine cannot hold (or, ``stated_only``,
    beyond the stated maximum); ``running`` as for ``process_limit``. Raises PlacementError
    (exit 2)."""
    limit, why = (
        (MAX_PROCESSES, f"trtl's maximum of {MAX_PROCESSES}")
        if stated_only
        else process_limit(running=running)
    )
    if count > limit:
        from trtl.profiles.errors import PlacementError  # only here: it imports re

        raise PlacementError(
            f"{profile!r} has {count} processes; this machine runs at most {limit} ({why}).",
            hint=hint,
        )
