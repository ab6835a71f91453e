"""Per-user cooldowns and sliding-window rate limits, with memory that expires on its own."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from cachetools import TTLCache

Clock = Callable[[], float]

# Upper bound on users tracked at once; older entries are evicted first (LRU inside TTLCache).
MAX_TRACKED = 100_000


class Cooldowns:
    """At most one use of a command per user per cooldown, and one notice per cooldown window."""

    def __init__(self, max_cooldown_s: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        # value: [expires_at, noticed]; the TTL drops users who stopped talking.
        self._until: TTLCache[tuple[str, str], list] = TTLCache(
            MAX_TRACKED, ttl=max(max_cooldown_s, 0.001), timer=clock
        )

    def check(self, user: str, command: str, cooldown_s: float) -> tuple[bool, float, bool]:
        """(allowed, seconds left, send a notice?); starts a cooldown when allowed."""
        if cooldown_s <= 0:
            return True, 0.0, False
        now = self._clock()
        key = (user, command)
        entry = self._until.get(key)
        if entry is not None and entry[0] > now:
            first_refusal = not entry[1]
            entry[1] = True
            return False, entry[0] - now, first_refusal
        self._until[key] = [now + cooldown_s, False]
        return True, 0.0, False

    def __len__(self) -> int:
        self._until.expire()
        return len(self._until)


class RateLimiter:
    """A sliding window: at most ``per_minute`` commands per user in any 60 s."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, clock: Clock = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._hits: TTLCache[str, deque[float]] = TTLCache(
            MAX_TRACKED, ttl=self.WINDOW_S, timer=clock
        )

    def allow(self, user: str) -> bool:
        if self._per_minute <= 0:
            return True
        now = self._clock()
        hits = self._hits.get(user)
        if hits is None:
            hits = deque(maxlen=self._per_minute)
        if len(hits) == self._per_minute and now - hits[0] < self.WINDOW_S:
            return False
        hits.append(now)
        self._hits[user] = hits  # re-set so the TTL counts from the latest hit
        return True

    def __len__(self) -> int:
        self._hits.expire()
        return len(self._hits)
