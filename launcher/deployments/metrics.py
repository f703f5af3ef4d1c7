"""Reading Dynamo's Prometheus ``/metrics``: totals, rates and latency quantiles over an interval.

The exposition text is parsed with the Prometheus client library. A scrape becomes
``Samples`` (sample name -> every (labels, value) of it); two scrapes an interval apart give
rates (counter increases over the interval) and quantiles of what happened within the
interval (bucket increases of a histogram, interpolated the way PromQL's
``histogram_quantile`` does). Counters that went down (the process restarted) count from
zero. Nothing here raises for odd input: an unreadable page is simply empty.
"""

from __future__ import annotations

import http.client
import math
import urllib.parse
from collections.abc import Mapping

Labels = dict[str, str]
Samples = dict[str, list[tuple[Labels, float]]]

SCRAPE_TIMEOUT = 1.0


def parse(text: str) -> Samples:
    """Every sample of an exposition page, by sample name; empty when it does not parse."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except (ValueError, TypeError, IndexError):
        return samples
    return samples


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT) -> Samples | None:
    """GET ``url`` (a loopback /metrics page) and parse it; None when nothing answered."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        connection.request("GET", parts.path or "/metrics")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    if response.status != 200:
        return None
    return parse(body.decode("utf-8", "replace"))


def _matches(labels: Labels, match: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match.items())


def total(samples: Samples | None, name: str, **match: str) -> float | None:
    """The sum of ``name``'s samples whose labels include ``match``; None if it has none."""
    if not samples or name not in samples:
        return None
    values = [v for labels, v in samples[name] if _matches(labels, match)]
    return sum(values) if values else None


def first_total(samples: Samples | None, names: tuple[str, ...], **match: str) -> float | None:
    """``total`` of the first of ``names`` the page has (engines name the same thing apart)."""
    for name in names:
        value = total(samples, name, **match)
        if value is not None:
            return value
    return None


def increase(before: Samples | None, now: Samples | None, name: str, **match: str) -> float | None:
    """How much a counter grew between two scrapes (a reset counts from zero)."""
    current = total(now, name, **match)
    if current is None or before is None:
        return None
    previous = total(before, name, **match) or 0.0
    return current - previous if current >= previous else current


def rate(
    before: Samples | None, now: Samples | None, seconds: float, name: str, **match: str
) -> float | None:
    """A counter's increase per second over ``seconds``."""
    grown = increase(before, now, name, **match)
    if grown is None or seconds <= 0:
        return None
    return grown / seconds


def _buckets(samples: Samples | None, name: str) -> dict[float, float]:
    """Cumulative counts by upper bound, summed over every other label."""
    found: dict[float, float] = {}
    for labels, value in (samples or {}).get(f"{name}_bucket", []):
        try:
            bound = float(labels.get("le", "nan"))
        except ValueError:
            continue
        if not math.isnan(bound):
            found[bound] = found.get(bound, 0.0) + value
    return found


def interval_quantile(
    q: float, before: Samples | None, now: Samples | None, name: str
) -> float | None:
    """The ``q`` quantile of the histogram ``name`` over what was observed between the two
    scrapes (PromQL's linear interpolation within a bucket); None when nothing was."""
    current = _buckets(now, name)
    if not current:
        return None
    previous = _buckets(before, name)
    counts = sorted(
        (bound, max(value - previous.get(bound, 0.0), 0.0)) for bound, value in current.items()
    )
    # A reset (fewer observations than before in +Inf) means the process restarted.
    if previous and current.get(math.inf, 0.0) < previous.get(math.inf, 0.0):
        counts = sorted(current.items())
    observed = counts[-1][1]
    if observed <= 0:
        return None
    rank = q * observed
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return None
