"""The states a process and a deployment go through, and the one place that checks each move.

Like supervisord's state assertions: every change of a state goes through ``move``, which
refuses a transition the tables below do not allow. An illegal move is a trtl bug (the
supervisor's bookkeeping went wrong), so it raises ``IllegalTransition``, a RuntimeError,
not a user-facing TrtlError.

Process::

    pending ─► starting ◄─► running          (up / no longer up)
                  │  ▲          │
                  ▼  │          ▼
               backoff ◄────────┘             (exited, restart due)
    starting|running ─► stopping ─► stopped   (stop requested: SIGTERM, then the exit)
    pending|backoff ─► stopped                (nothing to signal)
    starting|running|stopping ─► failed       (it caused the failure; stays failed)

Deployment::

    starting ─► ready ◄─► degraded
    starting|ready|degraded ─► stopped | failed   (terminal)

The enums are ``str`` subclasses: the state file and ``--json`` keep plain strings.
"""

from __future__ import annotations

import enum


class _State(str, enum.Enum):
    """A state that prints as its value (``f"{state}"`` gives ``running``)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    # Hashed like its value (Enum hashes the member's name): a plain string read from a
    # state file finds the same entry of a set or dict as the member itself.
    def __hash__(self) -> int:
        return hash(self.value)


class ProcessStatus(_State):
    """One supervised process."""

    PENDING = "pending"  # planned, not started yet
    STARTING = "starting"  # spawned, not up (or no longer up) by its own health answer
    RUNNING = "running"  # up: registered (a worker) or listing the model (the frontend)
    BACKOFF = "backoff"  # exited; a restart is due after a delay
    STOPPING = "stopping"  # SIGTERM sent, waiting for the exit
    STOPPED = "stopped"  # ended by a stop, or never started
    FAILED = "failed"  # its exit (or silence) ended the deployment
    UNKNOWN = "unknown"  # the state file is lost: only its log is known


class DeploymentStatus(_State):
    """A deployment, as ``trtl status --json`` reports it."""

    STARTING = "starting"  # not servable yet
    READY = "ready"  # servable, every process up
    DEGRADED = "degraded"  # was ready; a process is down or restarting
    STOPPED = "stopped"  # stopped on request
    FAILED = "failed"  # ended by a failure, or its supervisor vanished
    # Its state file is lost or unreadable, yet its supervisor or processes run: what
    # `trtl status` and `ps` show then (never written into a state file).
    UNKNOWN = "unknown"


P, D = ProcessStatus, DeploymentStatus

PROCESS_MOVES: dict[ProcessStatus, frozenset[ProcessStatus]] = {
    P.PENDING: frozenset({P.STARTING, P.STOPPED, P.FAILED}),
    P.STARTING: frozenset({P.RUNNING, P.BACKOFF, P.STOPPING, P.STOPPED, P.FAILED}),
    P.RUNNING: frozenset({P.STARTING, P.BACKOFF, P.STOPPING, P.STOPPED, P.FAILED}),
    P.BACKOFF: frozenset({P.STARTING, P.STOPPED, P.FAILED}),
    P.STOPPING: frozenset({P.STOPPED, P.FAILED}),
    P.STOPPED: frozenset(),
    P.FAILED: frozenset(),
    P.UNKNOWN: frozenset({P.STOPPED}),
}

DEPLOYMENT_MOVES: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    D.STARTING: frozenset({D.READY, D.STOPPED, D.FAILED}),
    D.READY: frozenset({D.DEGRADED, D.STOPPED, D.FAILED}),
    D.DEGRADED: frozenset({D.READY, D.STOPPED, D.FAILED}),
    D.STOPPED: frozenset(),
    D.FAILED: frozenset(),
    D.UNKNOWN: frozenset({D.STOPPED, D.FAILED}),
}

ACTIVE = frozenset({D.STARTING, D.READY, D.DEGRADED, D.UNKNOWN})
SERVABLE = frozenset({D.READY, D.DEGRADED})
# A process in one of these has a live PID worth showing.
ALIVE = frozenset({P.STARTING, P.RUNNING, P.STOPPING})
ENDED = frozenset({P.STOPPED, P.FAILED})


class IllegalTransition(RuntimeError):
    """The supervisor tried a state change the lifecycle does not allow (a trtl bug)."""


def move(what: str, current: _State, new: _State) -> _State:
    """Return ``new`` if ``current`` may become it (staying put is always allowed).

    Raises IllegalTransition otherwise.
    """
    if current == new:
        return new
    table = PROCESS_MOVES if isinstance(new, ProcessStatus) else DEPLOYMENT_MOVES
    if new not in table[type(new)(current)]:
        raise IllegalTransition(f"{what}: {current} -> {new} is not an allowed state change")
    return new


def is_active(state: str) -> bool:
    """True for a deployment state whose supervisor should be running."""
    return state in ACTIVE
