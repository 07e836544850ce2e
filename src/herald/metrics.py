"""Prometheus metrics of every part (served at /metrics by the API)."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

PROVIDER_CALLS = Counter("herald_provider_calls_total", "Provider calls by outcome", ["outcome"])
PROVIDER_LATENCY = Histogram(
    "herald_provider_latency_seconds",
    "Provider call latency",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("herald_provider_in_flight", "Provider calls in flight in this process")
BREAKER_OPEN = Gauge("herald_breaker_open", "1 while the provider breaker is open")
WRITES_REFUSED = Counter(
    "herald_write_back_refused_total", "Outcomes refused by the attempt fence (lease lost)"
)


@functools.cache
def calls(outcome: str) -> Counter:
    """The provider-call counter of one outcome (labels() costs a lookup on every call)."""
    return PROVIDER_CALLS.labels(outcome)
