"""Reading /metrics pages for ``trtl top``: totals, rates, interval quantiles, restarts."""

from __future__ import annotations

import pytest
from trtl.launcher.deployments import metrics as m
from trtl.launcher.deployments.top_view import traffic_line


def page(requests: int, buckets: dict[str, int]) -> m.Samples:
    lines = [
        "# TYPE dynamo_frontend_requests_total counter",
        f'dynamo_frontend_requests_total{{model="x",status="success"}} {requests}',
        'dynamo_frontend_requests_total{model="x",status="error"} 1',
        "# TYPE dynamo_frontend_time_to_first_token_seconds histogram",
    ]
    for le, count in buckets.items():
        lines.append(f'dynamo_frontend_time_to_first_token_seconds_bucket{{le="{le}"}} {count}')
    lines.append(f"dynamo_frontend_time_to_first_token_seconds_count {max(buckets.values())}")
    lines.append("dynamo_frontend_time_to_first_token_seconds_sum 1.0")
    return m.parse("\n".join(lines) + "\n")


TTFT = "dynamo_frontend_time_to_first_token_seconds"


def test_totals_and_rates_over_an_interval():
    before = page(10, {"0.1": 5, "+Inf": 5})
    now = page(30, {"0.1": 5, "+Inf": 5})
    assert m.total(now, "dynamo_frontend_requests_total") == 31
    assert m.total(now, "dynamo_frontend_requests_total", status="success") == 30
    assert m.rate(before, now, 2.0, "dynamo_frontend_requests_total", status="success") == 10.0
    assert m.rate(None, now, 2.0, "dynamo_frontend_requests_total") is None


def test_quantile_covers_only_the_interval():
    # Before: 100 fast requests. In the interval: 10 more, all between 0.1 and 0.2 s.
    before = page(0, {"0.1": 100, "0.2": 100, "+Inf": 100})
    now = page(0, {"0.1": 100, "0.2": 110, "+Inf": 110})
    assert m.interval_quantile(0.5, before, now, TTFT) == pytest.approx(0.15)
    assert m.interval_quantile(0.95, before, now, TTFT) == pytest.approx(0.195)
    assert m.interval_quantile(0.5, now, now, TTFT) is None  # nothing happened


def test_a_restarted_process_counts_from_zero():
    before = page(500, {"0.1": 100, "+Inf": 100})
    now = page(4, {"0.1": 4, "+Inf": 4})
    assert m.increase(before, now, "dynamo_frontend_requests_total", status="success") == 4
    assert m.interval_quantile(0.5, before, now, TTFT) == pytest.approx(0.05)


def test_unreadable_pages_are_empty():
    assert m.parse("not a metrics page {{{") == {}
    assert m.total(m.parse(""), "anything") is None
    assert m.scrape("http://127.0.0.1:9/metrics", timeout=0.2) is None


def test_traffic_line_shows_dashes_for_unknowns():
    known = {"reachable": True, "requests_total": 3, "failed_total": 0, "inflight": 1}
    unknown = ("requests_per_s", "ttft_p95_s", "itl_p50_s", "itl_p95_s", "output_tokens_per_s")
    line = traffic_line({**known, "queued": 0, "ttft_p50_s": 0.0123, **dict.fromkeys(unknown)})
    assert line.startswith("requests 3 (-/s, 0 failed)  in flight 1")
    assert "TTFT p50/p95 12.3 ms/-" in line
    assert traffic_line({"reachable": False}) == "frontend /metrics: not answering"
