"""In-process counters and latency windows for !cachestats, /api/stats and /metrics."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

LATENCY_WINDOW = 1000  # samples kept per command: bounded memory, recent behaviour


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of already-sorted samples (0 when empty)."""
    if not samples:
        return 0.0
    rank = max(0, min(len(samples) - 1, round(q / 100 * len(samples) + 0.5) - 1))
    return samples[rank]


class Stats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at = clock()
        self.commands: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()  # l1, l2, fuzzy, llm, fallback, local
        self.errors: Counter[str] = Counter()
        self._latency: dict[str, deque[float]] = {}

    def uptime_s(self) -> float:
        return self._clock() - self.started_at

    def record_command(self, command: str, seconds: float, source: str) -> None:
        self.commands[command] += 1
        self.sources[source] += 1
        window = self._latency.get(command)
        if window is None:
            window = self._latency[command] = deque(maxlen=LATENCY_WINDOW)
        window.append(seconds)

    def record_error(self, command: str) -> None:
        self.errors[command] += 1

    def latency_ms(self, command: str) -> tuple[float, float, float]:
        """p50, p95 and p99 over the recent window, in milliseconds."""
        samples = sorted(self._latency.get(command, ()))
        return tuple(percentile(samples, q) * 1000 for q in (50, 95, 99))  # type: ignore[return-value]

    def latency_commands(self) -> list[str]:
        return list(self._latency)
