"""The restart policy on a fake clock: backoff, reset after a healthy period, crash loops."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from trtl.launcher.supervision.restart import RestartTracker
from trtl.profiles.schema import RestartPolicy


def test_delay_doubles_up_to_the_maximum():
    tracker = RestartTracker(RestartPolicy(max_failures=100, failure_window=1))
    delays = []
    now = 0.0
    for _ in range(9):
        now += 2.0  # each run lasts 2 s, never healthy long enough to reset
        delays.append(tracker.on_exit(now, started_at=now - 2.0).delay)
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_a_healthy_period_resets_the_backoff():
    tracker = RestartTracker(RestartPolicy())
    tracker.on_exit(1.0, started_at=0.0)
    tracker.on_exit(3.0, started_at=2.0)
    assert tracker.on_exit(5.0, started_at=4.0).delay == 2.0
    # Up for 60 s: forgiven, back to the first delay and an empty crash-loop window.
    decision = tracker.on_exit(70.0, started_at=10.0)
    assert decision.delay == 0.5
    assert decision.failures_in_window == 1


def test_five_failures_in_two_minutes_is_a_crash_loop():
    tracker = RestartTracker(RestartPolicy())
    decisions = [tracker.on_exit(t, started_at=t - 1) for t in (10, 20, 30, 40)]
    assert all(d.restart for d in decisions)
    final = tracker.on_exit(50, started_at=49)
    assert not final.restart
    assert final.failures_in_window == 5


def test_failures_outside_the_window_do_not_count():
    tracker = RestartTracker(RestartPolicy(max_failures=3, failure_window=10))
    assert tracker.on_exit(1, started_at=0).restart
    assert tracker.on_exit(2, started_at=1.5).restart
    # 20 s later the first two are outside the 10 s window.
    decision = tracker.on_exit(22, started_at=21)
    assert decision.restart
    assert decision.failures_in_window == 1


def test_policy_is_checked():
    with pytest.raises(ValidationError, match="backoff_max must be at least backoff_initial"):
        RestartPolicy(backoff_initial=10, backoff_max=1)
