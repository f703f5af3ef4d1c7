"""The supervisor's collaborators, as the shapes it needs: what a test replaces.

``Component`` and ``Prober`` are the real ones; ``tests/launcher/test_supervisor_events.py``
replays event scripts through the supervisor with stand-ins of these shapes and a fake
clock, without a single process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from trtl.launcher.planning.plan_types import ProcessPlan

Emit = Callable[[object], None]


class ProcessHandle(Protocol):
    """One process of the plan across its restarts (``component.Component``)."""

    plan: ProcessPlan
    name: str
    log_path: Path  # what it writes (a live change renames it with the process)
    pid: int | None
    create_time: float | None
    started_at: float | None  # monotonic, of the current incarnation
    generation: int  # which incarnation an Exited event is about
    tail: Sequence[str]  # its last lines, for failure reports

    @property
    def alive(self) -> bool: ...

    def start(self, watch: bool = True) -> None:
        """Spawn; ``watch=False`` leaves the following threads to ``watch``."""

    def watch(self) -> None: ...

    def signal_group(self, sig: int) -> None: ...


class Spawner(Protocol):
    """Makes the handle of one process; events go to ``emit``."""

    def __call__(
        self,
        plan: ProcessPlan,
        log_path: Path,
        emit: Emit,
        env: dict[str, str],
        forward_lines: bool = True,
    ) -> ProcessHandle: ...


class HealthPoller(Protocol):
    """Polls the processes' health and emits changes (``probe.Prober``)."""

    # name -> status port; a live change replaces it whole (the poller thread reads it)
    status_ports: dict[str, int]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def forget(self, name: str) -> None: ...


class ProberFactory(Protocol):
    """Makes the poller: frontend URL, served model, workers' status ports, emit, and the
    current PID of a process by name (to check who holds a port)."""

    def __call__(
        self,
        frontend_url: str,
        served_name: str,
        status_ports: dict[str, int],
        emit: Emit,
        pid_of: Callable[[str], int | None],
        discovery: str | None = None,
    ) -> HealthPoller: ...
