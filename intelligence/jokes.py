"""Jokes for viewers: never one the viewer has among their recent ones."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from cachetools import LRUCache

from intelligence.offline import Language, OfflineJokes

RECENT_PER_VIEWER = 50
MAX_VIEWERS = 100_000


@dataclass(frozen=True, slots=True)
class Joke:
    text: str
    source: str  # the tier that served it: l1, l2, llm, fallback


class JokeService:
    def __init__(self, language: Language, rng: random.Random | None = None) -> None:
        self.offline = OfflineJokes(language)
        self._rng = rng or random.Random()
        self._recent: LRUCache[str, deque[int]] = LRUCache(MAX_VIEWERS)

    async def next_for(self, viewer: str) -> Joke:
        """A joke for ``viewer`` (a stable id like "twitch:1234") not among their recent ones."""
        recent = self._recent.get(viewer)
        if recent is None:
            recent = deque(maxlen=RECENT_PER_VIEWER)
        seen = set(recent)
        index = self._rng.randrange(len(self.offline))
        while index in seen:
            index = self._rng.randrange(len(self.offline))
        recent.append(index)
        self._recent[viewer] = recent
        return Joke(self.offline.joke(index), "fallback")
