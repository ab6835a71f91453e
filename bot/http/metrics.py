"""Prometheus metrics. The bot's figures are read from ``app.stats`` at scrape time by a custom
collector, so nothing is counted twice; only the HTTP request histogram is the HTTP layer's own.
Command and LLM latency come both as cumulative histograms and as the recent window's quantiles.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from intelligence.resilience import BreakerState
from intelligence.sources import TIERS
from intelligence.stats import LATENCY_BUCKETS

BUCKET_BOUNDS = [*map(str, LATENCY_BUCKETS), "+Inf"]

if TYPE_CHECKING:
    from bot.app import App


def _counter(name: str, doc: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class StatsCollector(Collector):
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app, stats = self.app, self.app.stats
        yield GaugeMetricFamily("quipbot_uptime_seconds", "Seconds since start", stats.uptime_s())
        yield _counter("quipbot_answers", "Answers given, by source", "source", stats.sources)
        yield _counter("quipbot_commands", "Commands answered", "command", stats.commands)
        yield _counter("quipbot_command_errors", "Commands that failed", "command", stats.errors)
        lookups = CounterMetricFamily(
            "quipbot_cache_lookups", "Cache lookups by tier and result", labels=["tier", "result"]
        )
        for tier in TIERS:
            lookups.add_metric([tier, "hit"], stats.tier_hits[tier])
            lookups.add_metric([tier, "miss"], stats.tier_misses[tier])
        yield lookups
        entries = GaugeMetricFamily("quipbot_cache_entries", "Cached entries", labels=["store"])
        for store, size in app.cache.sizes().items():
            entries.add_metric([store], size)
        yield entries
        if app.cache.redis is not None:
            yield GaugeMetricFamily(
                "quipbot_redis_up", "1 when the Redis tier is in use", int(app.cache.redis.up)
            )
        yield _counter("quipbot_llm_calls", "LLM calls", "backend", stats.llm_calls)
        yield _counter("quipbot_llm_errors", "Failed LLM calls", "backend", stats.llm_errors)
        tokens = CounterMetricFamily("quipbot_llm_tokens", "LLM tokens", labels=["direction"])
        tokens.add_metric(["prompt"], stats.tokens_in)
        tokens.add_metric(["completion"], stats.tokens_out)
        yield tokens
        yield CounterMetricFamily(
            "quipbot_saved_calls", "Answers served without an LLM call", stats.saved_calls
        )
        yield CounterMetricFamily(
            "quipbot_saved_tokens", "LLM tokens the cache saved", stats.saved_tokens
        )
        breakers = GaugeMetricFamily(
            "quipbot_llm_breaker_state",
            "1 for each backend's current circuit-breaker state",
            labels=["backend", "state"],
        )
        for backend, current in app.pool.breaker_states().items():
            for state in BreakerState:
                breakers.add_metric([backend, state.value], int(state.value == current))
        yield breakers
        blocked = CounterMetricFamily(
            "quipbot_blocked",
            "Texts the moderation gate refused, by where it met them and which layer refused",
            labels=["stage", "layer"],
        )
        for (stage, layer), count in sorted(stats.blocked.items()):
            blocked.add_metric([stage, layer], count)
        yield blocked
        yield _counter(
            "quipbot_joke_rejects",
            "LLM jokes the quality gate refused, by reason",
            "reason",
            stats.joke_rejects,
        )
        yield CounterMetricFamily(
            "quipbot_moderation_errors",
            "Times the moderation model gave no verdict",
            stats.moderation_errors,
        )
        yield _counter(
            "quipbot_messages_in", "Chat messages seen, by platform", "platform", stats.messages_in
        )
        yield _counter(
            "quipbot_replies_out", "Replies given, by platform", "platform", stats.replies_out
        )
        latency = GaugeMetricFamily(
            "quipbot_latency_window_seconds",
            "Latency quantiles over the recent samples of each command and LLM backend",
            labels=["name", "quantile"],
        )
        for name in stats.latency_names():
            for quantile, ms in zip(("0.5", "0.95", "0.99"), stats.latency_ms(name), strict=True):
                latency.add_metric([name, quantile], ms / 1000)
        yield latency
        histogram = HistogramMetricFamily(
            "quipbot_latency_seconds",
            "Time to answer, per command and per LLM backend, since start",
            labels=["name"],
        )
        for name, hist in stats.histograms.items():
            buckets = list(zip(BUCKET_BOUNDS, itertools.accumulate(hist.counts), strict=True))
            histogram.add_metric([name], buckets, hist.total_s)
        yield histogram


class HttpMetrics:
    """A private registry (several apps may live in one process) with the request histogram."""

    def __init__(self, app: App) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StatsCollector(app))
        self.requests = Histogram(
            "quipbot_http_request_duration_seconds",
            "HTTP request time by route and status; a stream counts until its end",
            ["route", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], Histogram] = {}  # labels() costs a lock and a dict

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        child = self._children.get((route, status))
        if child is None:
            child = self._children[(route, status)] = self.requests.labels(route, str(status))
        child.observe(seconds)
