"""When to restart a process that exited, and when to give up: pure, tested with a fake clock.

Any exit of a supervised process is a failure (Dynamo workers even exit 0 on some
configuration errors). The delay before a restart doubles from ``backoff_initial`` up to
``backoff_max``; a process that stayed up ``reset_after`` seconds starts over from the
first delay; ``max_failures`` failures within ``failure_window`` seconds is a crash loop
that ends the run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trtl.profiles.schema import RestartPolicy


@dataclass(frozen=True)
class Decision:
    """What to do after a failure: restart after ``delay`` seconds, or give up."""

    restart: bool
    delay: float
    failures_in_window: int


@dataclass
class RestartTracker:
    """The failure history of one supervised process."""

    policy: RestartPolicy
    _failures: deque[float] = field(default_factory=deque)
    _streak: int = 0  # failures since the last healthy period; sets the delay

    def on_exit(self, now: float, started_at: float) -> Decision:
        """Record an exit at ``now`` of a process started at ``started_at``."""
        if now - started_at >= self.policy.reset_after:
            self._streak = 0
            self._failures.clear()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.policy.failure_window:
            self._failures.popleft()
        count = len(self._failures)
        if count >= self.policy.max_failures:
            return Decision(restart=False, delay=0.0, failures_in_window=count)
        delay = min(self.policy.backoff_initial * 2**self._streak, self.policy.backoff_max)
        self._streak += 1
        return Decision(restart=True, delay=delay, failures_in_window=count)
