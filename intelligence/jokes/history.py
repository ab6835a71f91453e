"""Who heard which joke lately, by joke family (a joke and its rewordings).

Two audiences: each viewer (their last ``RECENT_PER_VIEWER`` jokes, in every channel and on every
instance) and each channel (its last ``joke_window`` jokes within ``joke_window_s``: everyone
there reads every reply). Memory first, filled from SQLite once at start-up (one query per
audience kind, so a new viewer costs no database round trip); Redis adds what other instances
told.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, KeysView
from typing import Literal

from cachetools import TTLCache

from intelligence.redis_tier import RedisTier
from intelligence.store import Store

RECENT_PER_VIEWER = 50
MAX_AUDIENCES = 100_000
IDLE_S = 1800.0  # an audience silent this long leaves memory (SQLite and Redis still know)
VIEWER_TTL_S = 30 * 86400
HEARD_PREFIX = "quipbot:v2:heard:"  # Redis lists of "family|epoch", per audience


Recent = OrderedDict[str, float]  # family → when it was heard last, the oldest first


class _Recent(TTLCache[str, Recent]):
    """Audiences' recent jokes, while they are active; remembers whether it ever forgot one."""

    evicted = False

    def popitem(self) -> tuple[str, Recent]:
        self.evicted = True
        return super().popitem()

    def expire(self, time: float | None = None) -> list[tuple[str, Recent]]:
        expired = super().expire(time)
        self.evicted = self.evicted or bool(expired)
        return expired


class Heard:
    """The families one kind of audience heard: keyed by the ``jokes_served`` column
    ``column`` ("viewer" or "channel"), the last ``keep`` of them, none older than ``max_age_s``."""

    def __init__(
        self,
        store: Store,
        redis: RedisTier | None,
        *,
        column: Literal["viewer", "channel"],
        keep: int,
        max_age_s: float = VIEWER_TTL_S,
        idle_s: float = IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._redis = redis
        self.column = column
        self.keep = keep
        self.max_age_s = max_age_s
        self._recent = _Recent(MAX_AUDIENCES, idle_s, timer=clock)

    async def load(self) -> None:
        """Every audience's recent jokes, in one query (at start-up)."""
        rows = await self._store.fetch(
            f"SELECT {self.column}, family, at FROM (SELECT {self.column}, family, at, "
            f"ROW_NUMBER() OVER (PARTITION BY {self.column} ORDER BY at DESC) AS newest "
            f"FROM jokes_served WHERE at >= ?) WHERE newest <= ? ORDER BY at",
            (time.time() - self.max_age_s, self.keep),
        )
        for audience, family, at in rows:
            recent = self._recent.get(audience)
            if recent is None:
                recent = self._recent[audience] = OrderedDict()
            self._add(recent, family, at)

    def least_recent(self, audience: str, families: list[str]) -> str:
        """Of ``families``, the one ``audience`` never heard, else heard longest ago."""
        recent = self._recent.get(audience) or OrderedDict()
        never = [family for family in families if family not in recent]
        if never:
            return never[0]
        wanted = set(families)
        return next(family for family in recent if family in wanted)

    def _add(self, recent: Recent, family: str, at: float) -> None:
        recent.pop(family, None)
        recent[family] = at
        if len(recent) > self.keep:
            recent.popitem(last=False)

    def _in_window(self, recent: Recent) -> Recent:
        """``recent`` without what is older than the window (the oldest come first)."""
        since = time.time() - self.max_age_s
        while recent and next(iter(recent.values())) < since:
            recent.popitem(last=False)
        return recent

    async def recall(self, audience: str) -> None:
        """Make sure memory knows ``audience``: from SQLite when it was forgotten (idle, or
        pushed out by newer ones)."""
        known = self._recent.get(audience)
        if known is not None:
            self._recent[audience] = known  # in use: it cannot expire before it is read
            return
        recent: Recent = OrderedDict()
        if self._recent.evicted:  # this audience may have been forgotten: ask the database
            await self._store.flush()  # with what was just told
            rows = await self._store.fetch(
                f"SELECT family, at FROM jokes_served WHERE {self.column} = ? AND at >= ? "
                "ORDER BY at DESC LIMIT ?",
                (audience, time.time() - self.max_age_s, self.keep),
            )
            for family, at in reversed(rows):
                self._add(recent, family, at)
        self._recent.setdefault(audience, recent)  # unless a request noted one meanwhile

    def _redis_key(self, audience: str) -> str:
        return f"{HEARD_PREFIX}{self.column}:{audience}"

    async def elsewhere(self, audience: str) -> set[str]:
        """The families other instances told ``audience`` within the window (Redis)."""
        if self._redis is None:
            return set()
        since = time.time() - self.max_age_s
        heard = set()
        for entry in await self._redis.recent(self._redis_key(audience), self.keep) or ():
            family, _, at = entry.rpartition("|")
            if family and float(at or 0) >= since:
                heard.add(family)
        return heard

    def families_here(self, audience: str) -> KeysView[str]:
        """What this instance knows, without waiting."""
        return self._in_window(self._recent.get(audience) or OrderedDict()).keys()

    def note(self, audience: str, family: str, at: float) -> None:
        """Remember at once, without waiting: a request that is picking a joke at this very
        moment must see it (see ``JokeService.next_for``)."""
        recent = self._recent.get(audience) or OrderedDict()
        self._add(recent, family, at)
        self._recent[audience] = recent  # active again: its idle time starts over

    async def share(self, audience: str, family: str, at: float) -> None:
        """Tell the other instances."""
        if self._redis is not None:
            await self._redis.push_recent(
                self._redis_key(audience), f"{family}|{at:.0f}", self.keep, self.max_age_s
            )
