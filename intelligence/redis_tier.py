"""Redis that may go away: the shared tier of the cache, and the shared state of jokes and learned
answers across instances. Every call has a short timeout; when Redis fails, callers get None
and run on memory alone until it is back."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisTier:
    """Redis that may go away. Short timeouts so a hung server cannot stall chat; when it fails,
    the cache runs on L1 alone, says so once, and tries again every ``retry_s``."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.asyncio import Redis  # imported only when Redis is configured

        self.url = url
        self._client = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._retry_s = retry_s
        self._clock = clock
        self._down_until: float | None = None

    @property
    def up(self) -> bool:
        return self._down_until is None

    async def get(self, key: str) -> bytes | None:
        async def read() -> bytes | None:
            value = await self._client.get(key)
            return value.encode() if isinstance(value, str) else value

        return await self._call(read)

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self._call(lambda: self._client.set(key, value, px=max(1, int(ttl_s * 1000))))

    async def push_recent(self, key: str, value: str, keep: int, ttl_s: float) -> None:
        """Keep the ``keep`` newest values of a list, e.g. the jokes a viewer got lately."""

        async def push() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, value)
                pipe.ltrim(key, 0, keep - 1)
                pipe.expire(key, int(ttl_s))
                await pipe.execute()

        await self._call(push)

    async def add_fresh(self, key: str, values: list[str], ttl_s: float) -> None:
        """Add values to a set of recent ones, each forgotten ``ttl_s`` after it was added."""
        now = time.time()

        async def add() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, dict.fromkeys(values, now))
                pipe.zremrangebyscore(key, "-inf", now - ttl_s)
                pipe.expire(key, max(1, int(ttl_s)))
                await pipe.execute()

        await self._call(add)

    async def fresh(self, key: str, ttl_s: float) -> list[tuple[str, float]]:
        """Such a set's values added in the last ``ttl_s``, with their age in seconds."""
        now = time.time()

        async def read() -> list[tuple[str, float]]:
            found = await self._client.zrangebyscore(key, now - ttl_s, "+inf", withscores=True)
            # With scores, each item is a (member, score) pair.
            return [(_text(item[0]), now - float(item[1])) for item in found]

        return await self._call(read) or []

    async def count(self, key: str, ttl_s: float) -> int | None:
        """Add one to a counter that lives ``ttl_s`` from its first count; None when down."""

        async def incr() -> int:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, max(1, int(ttl_s)), nx=True)
                value, _ = await pipe.execute()
            return int(value)

        return await self._call(incr)

    async def recent(self, key: str, count: int) -> list[str] | None:
        """The newest values of such a list; None when Redis is down."""

        async def read() -> list[str]:
            return [_text(value) for value in await self._client.lrange(key, 0, count - 1)]

        return await self._call(read)

    async def members(self, key: str) -> list[str] | None:
        """The members of a set; None when Redis is down."""

        async def read() -> list[str]:
            return sorted(_text(value) for value in await self._client.smembers(key))

        return await self._call(read)

    async def change_set(
        self, key: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), version: str
    ) -> None:
        """Add and remove members of a shared set, and bump its version counter so that other
        instances see the change."""

        async def change() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                if add:
                    pipe.sadd(key, *add)
                if remove:
                    pipe.srem(key, *remove)
                pipe.incr(version)
                await pipe.execute()

        await self._call(change)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._client.delete(key))

    async def ping(self) -> bool:
        return bool(await self._call(self._client.ping))

    async def delete_prefix(self, prefix: str) -> int:
        async def scan_and_unlink() -> int:
            removed = 0
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=prefix + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)
            return removed

        return await self._call(scan_and_unlink) or 0

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        from redis.exceptions import RedisError

        if self._down_until is not None and self._clock() < self._down_until:
            return None
        try:
            result = await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._down_until is None:
                log.warning(
                    "Redis at %s is unreachable (%s); running on the memory cache until it is back",
                    redacted_url(self.url),
                    exc,
                )
            self._down_until = self._clock() + self._retry_s
            return None
        if self._down_until is not None:
            log.info(
                "Redis at %s is back; the shared cache is in use again", redacted_url(self.url)
            )
            self._down_until = None
        return result

    async def aclose(self) -> None:
        await self._client.aclose()


def _text(value: object) -> str:
    """A member as redis-py returns it (bytes here, since responses are not decoded)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def redacted_url(url: str) -> str:
    """redis://user:secret@host → redis://user:***@host."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
