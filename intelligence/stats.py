"""In-process counters and latency windows for !cachestats, /api/stats and /metrics."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_WINDOW = 1000  # samples kept per command: bounded memory, recent behaviour
# Upper bounds (seconds) of the cumulative latency histogram that /metrics exports.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of already-sorted samples (0 when empty)."""
    if not samples:
        return 0.0
    rank = max(0, min(len(samples) - 1, round(q / 100 * len(samples) + 0.5) - 1))
    return samples[rank]


@dataclass(slots=True)
class Histogram:
    """Counts per latency bucket since start (the last one is +Inf), and their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total_s += seconds


class Stats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at = clock()
        self.commands: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()  # l1, l2, fuzzy, llm, fallback, local
        self.errors: Counter[str] = Counter()
        self.messages_in: Counter[str] = Counter()  # chat messages seen, per platform
        self.replies_out: Counter[str] = Counter()  # replies given, per platform
        self.tier_hits: Counter[str] = Counter()
        self.tier_misses: Counter[str] = Counter()
        self.llm_calls: Counter[str] = Counter()  # per backend name
        self.llm_errors: Counter[str] = Counter()
        self.tokens_in = 0
        self.tokens_out = 0
        self.saved_calls = 0  # answers served without a backend call (cache or shared flight)
        self.saved_tokens = 0
        self.blocked: Counter[tuple[str, str]] = Counter()  # by (stage, layer) of the gate
        self.moderation_errors = 0  # the moderation model gave no verdict
        self.joke_rejects: Counter[str] = Counter()  # LLM jokes refused, by reason
        self._latency: dict[str, deque[float]] = {}
        self.histograms: dict[str, Histogram] = {}  # per command and per llm:<backend>

    def uptime_s(self) -> float:
        return self._clock() - self.started_at

    # -- recording ------------------------------------------------------------------------

    def record_command(self, command: str, seconds: float, source: str) -> None:
        self.commands[command] += 1
        self.sources[source] += 1
        self._sample(command, seconds)

    def record_error(self, command: str) -> None:
        self.errors[command] += 1

    def record_tier(self, tier: str, *, hit: bool) -> None:
        (self.tier_hits if hit else self.tier_misses)[tier] += 1

    def record_llm_call(
        self, backend: str, tokens_in: int, tokens_out: int, seconds: float
    ) -> None:
        self.llm_calls[backend] += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self._sample(f"llm:{backend}", seconds)

    def record_llm_error(self, backend: str) -> None:
        self.llm_errors[backend] += 1

    def record_block(self, stage: str, layer: str) -> None:
        self.blocked[(stage, layer)] += 1

    def record_joke_reject(self, reason: str) -> None:
        self.joke_rejects[reason] += 1

    def record_moderation_error(self) -> None:
        self.moderation_errors += 1

    def record_saved(self, tokens: int) -> None:
        self.saved_calls += 1
        self.saved_tokens += tokens

    def _sample(self, name: str, seconds: float) -> None:
        window = self._latency.get(name)
        if window is None:
            window = self._latency[name] = deque(maxlen=LATENCY_WINDOW)
            self.histograms[name] = Histogram()
        window.append(seconds)
        self.histograms[name].observe(seconds)

    # -- reading --------------------------------------------------------------------------

    def hit_rate(self, tier: str) -> float:
        total = self.tier_hits[tier] + self.tier_misses[tier]
        return self.tier_hits[tier] / total if total else 0.0

    def error_rate(self) -> float:
        calls = sum(self.llm_calls.values()) + sum(self.llm_errors.values())
        return sum(self.llm_errors.values()) / calls if calls else 0.0

    def latency_ms(self, name: str) -> tuple[float, float, float]:
        """p50, p95 and p99 over the recent window, in milliseconds."""
        samples = sorted(self._latency.get(name, ()))
        p50, p95, p99 = (percentile(samples, q) * 1000 for q in (50, 95, 99))
        return p50, p95, p99

    def latency_names(self) -> list[str]:
        return list(self._latency)
