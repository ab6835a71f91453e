"""The tiered cache: L1 LRU+TTL, L2 on a real Redis (killed and restarted), promotion, clear."""

from __future__ import annotations

import logging

from intelligence.cache import TieredCache
from intelligence.entries import Entry, Scope, entry_key, exact_form
from intelligence.redis_tier import RedisTier
from intelligence.stats import Stats

SCOPE = Scope("ask", "model-a", "persona", "en")


def make_cache(clock, redis: RedisTier | None = None, l1_max: int = 100) -> TieredCache:
    return TieredCache(
        l1_max=l1_max, fuzzy_threshold=90, stats=Stats(clock), redis=redis, clock=clock
    )


async def test_l1_hit_and_ttl_expiry(clock):
    cache = make_cache(clock)
    await cache.put(SCOPE, "Why is the sky blue?", Entry("Rayleigh scattering.", "q", 60))
    hit = await cache.get(SCOPE, "why is the sky blue")
    assert hit.tier == "l1" and hit.entry.text == "Rayleigh scattering."
    clock.advance(61)
    assert await cache.get(SCOPE, "why is the sky blue") is None
    assert cache.stats.tier_hits["l1"] == 1 and cache.stats.tier_misses["l1"] == 1


async def test_l1_is_lru_bounded(clock):
    cache = make_cache(clock, l1_max=3)
    for i in range(5):
        await cache.put(SCOPE, f"question {i}", Entry(f"a{i}", f"question {i}", 60))
    assert cache.sizes()["l1"] == 3
    assert await cache.get(SCOPE, "question 0", fuzzy=False) is None
    assert (await cache.get(SCOPE, "question 4")).entry.text == "a4"


async def test_everything_that_changes_the_answer_is_in_the_key(clock):
    cache = make_cache(clock)
    await cache.put(SCOPE, "capital of France", Entry("Paris", "capital of France", 60))
    others = [
        Scope("ask", "model-b", "persona", "en"),
        Scope("ask", "model-a", "other persona", "en"),
        Scope("ask", "model-a", "persona", "fr"),
        Scope("joke", "model-a", "persona", "en"),
        Scope("ask", "model-a", "persona", "en", scope="conversation-7"),
    ]
    for scope in others:
        assert await cache.get(scope, "capital of France") is None, scope
    assert len({entry_key(s, "x") for s in [SCOPE, *others]}) == 6


def test_exact_form():
    assert exact_form("  What IS  this?? ") == exact_form("what is this")
    assert exact_form("2-2") != exact_form("2+2") != exact_form("2 2")
    assert exact_form("qu'est-ce") == exact_form("qu’est ce")


async def test_l2_shares_answers_between_instances_and_promotes(redis_server, clock):
    first = make_cache(clock, RedisTier(redis_server.url, clock=clock))
    second = make_cache(clock, RedisTier(redis_server.url, clock=clock))
    try:
        await first.put(
            SCOPE, "Why is the sky blue?", Entry("Rayleigh.", "Why is the sky blue?", 60, 30, 5)
        )
        hit = await second.get(SCOPE, "why is the sky blue?")
        assert hit.tier == "l2" and hit.entry == Entry(
            "Rayleigh.", "Why is the sky blue?", 60, 30, 5
        )
        assert (await second.get(SCOPE, "why is the sky blue?")).tier == "l1"  # promoted
        # The L2 hit also fed the second instance's fuzzy index.
        assert (await second.get(SCOPE, "why is the sky blue please")).tier in ("l1", "fuzzy")
    finally:
        await first.redis.aclose()
        await second.redis.aclose()


async def test_l2_entries_expire(redis_server, clock):
    import asyncio

    cache = make_cache(clock, RedisTier(redis_server.url, clock=clock))
    other = make_cache(clock, RedisTier(redis_server.url, clock=clock))
    try:
        await cache.put(SCOPE, "long lived", Entry("y", "long lived", 600))
        await cache.put(SCOPE, "short lived", Entry("x", "short lived", 0.05))
        await asyncio.sleep(0.15)  # real Redis time
        assert (await other.get(SCOPE, "long lived")).tier == "l2"  # it was written to Redis
        assert await other.get(SCOPE, "short lived") is None
    finally:
        await cache.redis.aclose()
        await other.redis.aclose()


async def test_redis_killed_then_back(redis_server, clock, caplog):
    redis = RedisTier(redis_server.url, clock=clock, retry_s=5)
    cache = make_cache(clock, redis)
    other = make_cache(clock, RedisTier(redis_server.url, clock=clock))
    caplog.set_level(logging.INFO, logger="intelligence.cache")
    try:
        await cache.put(SCOPE, "before the crash", Entry("one", "before the crash", 600))
        redis_server.stop()

        # Down: L1 keeps serving, writes and reads of L2 fail fast and quietly.
        assert (await cache.get(SCOPE, "before the crash")).tier == "l1"
        await cache.put(SCOPE, "during the crash", Entry("two", "during the crash", 600))
        assert await cache.get(SCOPE, "never cached") is None
        assert (await cache.get(SCOPE, "during the crash")).tier == "l1"
        assert not redis.up
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1  # logged once, not per call

        redis_server.start()  # a fresh, empty server on the same port
        await cache.put(SCOPE, "while retrying", Entry("x", "while retrying", 600))
        assert not redis.up  # still inside the retry pause: not even tried
        clock.advance(5)
        await cache.put(SCOPE, "after the restart", Entry("three", "after the restart", 600))
        assert redis.up
        assert any("is back" in r.getMessage() for r in caplog.records)
        hit = await other.get(SCOPE, "after the restart")
        assert hit is not None and hit.tier == "l2" and hit.entry.text == "three"
    finally:
        await redis.aclose()
        await other.redis.aclose()


async def test_a_hung_redis_cannot_stall_chat(clock):
    """A server that accepts connections but never answers: the call gives up after the short
    socket timeout, and later calls do not even try until the retry pause is over."""
    import asyncio

    connections = 0

    async def silent(reader, writer):
        nonlocal connections
        connections += 1
        await reader.read()  # never answers, until the client hangs up

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = RedisTier(f"redis://127.0.0.1:{port}/0", clock=clock, timeout_s=0.1, retry_s=5)
    cache = make_cache(clock, redis)
    try:
        # Without the socket timeout this would never return (10 s: a hang fails the test).
        assert await asyncio.wait_for(cache.get(SCOPE, "anything at all"), 10) is None
        assert not redis.up and connections == 1
        for _ in range(20):  # down: answered from memory, Redis not even tried
            assert await cache.get(SCOPE, "anything at all") is None
        assert connections == 1
        clock.advance(5)
        assert await asyncio.wait_for(cache.get(SCOPE, "anything at all"), 10) is None
        assert connections == 2  # tried again after the pause
    finally:
        await redis.aclose()
        server.close()


async def test_clear_empties_every_tier_but_only_our_redis_keys(redis_server, clock):
    from redis.asyncio import Redis

    foreign = Redis.from_url(redis_server.url)
    redis = RedisTier(redis_server.url, clock=clock)
    cache = make_cache(clock, redis)
    try:
        await foreign.set("someone-else:key", "keep me")
        for i in range(3):
            await cache.put(SCOPE, f"how far away is star number {i}", Entry("far", "q", 600))
        assert await cache.clear() == 6  # 3 in L1 and 3 in L2
        assert cache.sizes() == {"l1": 0, "fuzzy": 0, "pinned": 0}
        assert await cache.get(SCOPE, "how far away is star number 1") is None
        assert await foreign.get("someone-else:key") == b"keep me"
    finally:
        await foreign.aclose()
        await redis.aclose()
