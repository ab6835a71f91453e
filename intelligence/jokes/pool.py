"""The shared pool of recent LLM jokes: one made for a viewer serves every viewer who has not
had it. At most ``max_jokes`` for ``ttl_s`` seconds each; when full, a cleanup keeps the 80 %
used most recently. Instances sharing Redis share their fresh jokes too."""

from __future__ import annotations

import hashlib
import json
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from intelligence.redis_tier import RedisTier

POOL_PREFIX = "quipbot:v2:jokes:"  # Redis sets of fresh LLM jokes, so instances share one pool
CLEANUP_TO = 0.8


@dataclass(slots=True)
class PoolJoke:
    key: str  # the exact text's identity
    family: str  # the joke's, shared by its rewordings (see ``similar``)
    text: str
    style: str
    created_at: float
    score: int = 0


class JokePool:
    def __init__(
        self,
        *,
        ttl_s: float,
        max_jokes: int,
        redis: RedisTier | None,
        shared_scope: str,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_jokes = max_jokes
        self._redis = redis
        # Instances share a pool only when they would make the same jokes.
        digest = hashlib.blake2b(shared_scope.encode(), digest_size=8).hexdigest()
        self._redis_key = POOL_PREFIX + digest
        self._clock = clock
        self._rng = rng
        self._jokes: OrderedDict[str, PoolJoke] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._jokes)

    def __contains__(self, key: object) -> bool:
        return key in self._jokes

    def __iter__(self) -> Iterator[PoolJoke]:
        return iter(list(self._jokes.values()))

    def expire(self) -> None:
        now = self._clock()
        for key in [k for k, j in self._jokes.items() if now - j.created_at >= self.ttl_s]:
            del self._jokes[key]

    def lasting(self, for_s: float) -> list[PoolJoke]:
        """The jokes that stay in the pool ``for_s`` seconds more."""
        now = self._clock()
        return [j for j in self._jokes.values() if now - j.created_at < self.ttl_s - for_s]

    def families(self) -> set[str]:
        return {joke.family for joke in self._jokes.values()}

    def pick(self, heard: set[str], style: str) -> PoolJoke | None:
        """A joke of a family not in ``heard``, well-rated ones and the viewer's style first."""
        candidates = [j for j in self._jokes.values() if j.family not in heard]
        if not candidates:
            return None
        # Well-rated jokes come back more often; the viewer's style is preferred, not required.
        weights = [(1 + max(0, j.score)) * (3 if j.style == style else 1) for j in candidates]
        joke = self._rng.choices(candidates, weights)[0]
        self._jokes.move_to_end(joke.key)
        return joke

    def add(self, joke: PoolJoke) -> None:
        self._jokes[joke.key] = joke
        if len(self._jokes) > self.max_jokes:  # LRU cleanup: keep the 80 % used most recently
            while len(self._jokes) > int(self.max_jokes * CLEANUP_TO):
                self._jokes.popitem(last=False)

    def rate(self, key: str, score: int, *, retired: bool) -> None:
        if retired:
            self._jokes.pop(key, None)
        elif key in self._jokes:
            self._jokes[key].score = score

    async def share(self, jokes: list[PoolJoke]) -> None:
        """Offer freshly made jokes to the other instances."""
        if self._redis is not None and jokes:
            made = [
                json.dumps({"key": j.key, "family": j.family, "text": j.text, "style": j.style})
                for j in jokes
            ]
            await self._redis.add_fresh(self._redis_key, made, self.ttl_s)

    async def shared(self) -> list[PoolJoke]:
        """The fresh jokes other instances made that this pool lacks."""
        if self._redis is None:
            return []
        now, found = self._clock(), []
        for value, age in await self._redis.fresh(self._redis_key, self.ttl_s):
            joke = json.loads(value)
            if joke["key"] not in self._jokes:
                family = joke.get("family", joke["key"])
                found.append(PoolJoke(joke["key"], family, joke["text"], joke["style"], now - age))
        return found
