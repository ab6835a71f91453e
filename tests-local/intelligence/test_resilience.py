"""Circuit breaker, failover to a second LLM, offline when all are down, and single-flight."""

from __future__ import annotations

import asyncio

import pytest
from fakes.llm import FakeLLM

from config.settings import BackendSettings
from intelligence.llm import ChatRequest, LLMClient
from intelligence.resilience import (
    BreakerState,
    CircuitBreaker,
    Flight,
    LLMPool,
    NoBackendAvailable,
    SingleFlight,
)
from intelligence.stats import Stats

REQUEST = ChatRequest([{"role": "user", "content": "hello"}])


def test_breaker_transitions(clock):
    breaker = CircuitBreaker(failures=5, reset_s=60, clock=clock)
    for _ in range(4):
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.success()  # a success resets the count of consecutive failures
    for _ in range(4):
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.advance(59.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the single probe
    assert not breaker.allow()  # nobody else while it runs
    breaker.failure()  # the probe failed: open again for a full period
    assert breaker.state is BreakerState.OPEN
    clock.advance(60)
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_a_cancelled_probe_lets_another_probe_try(clock):
    breaker = CircuitBreaker(failures=1, reset_s=10, clock=clock)
    breaker.failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()


def client(fake: FakeLLM, name: str) -> LLMClient:
    backend = BackendSettings(
        provider="lmstudio", base_url=fake.base_url, timeout_s=5, connect_timeout_s=0.5
    )
    return LLMClient(backend, name=name, max_retries=0)


async def answer(pool: LLMPool) -> str:
    flight = Flight()
    await pool.fill(REQUEST, flight)
    return flight.text


async def test_failover_to_the_second_llm_then_offline_then_recovery(clock):
    primary, secondary = (
        FakeLLM(flavour="lmstudio", reply="from primary"),
        FakeLLM(flavour="lmstudio", reply="from secondary"),
    )
    await primary.start()
    await secondary.start()
    stats = Stats(clock)
    pool = LLMPool(
        [
            (client(primary, "primary"), CircuitBreaker(2, 30, clock)),
            (client(secondary, "secondary"), CircuitBreaker(2, 30, clock)),
        ],
        stats,
    )
    try:
        assert await answer(pool) == "from primary"
        await primary.stop()
        assert await answer(pool) == "from secondary"
        assert await answer(pool) == "from secondary"
        assert pool.breaker_states() == {"primary": "open", "secondary": "closed"}
        calls_before = secondary.calls
        assert await answer(pool) == "from secondary"  # primary skipped: no wasted connect
        assert stats.llm_errors["primary"] == 2

        await secondary.stop()
        for _ in range(2):
            with pytest.raises(NoBackendAvailable):
                await answer(pool)
        assert not pool.available()
        assert secondary.calls == calls_before + 1
        with pytest.raises(NoBackendAvailable):  # at once: both breakers are open
            await answer(pool)

        await primary.start()
        clock.advance(30)
        assert pool.breaker_states()["primary"] == "half_open"
        assert await answer(pool) == "from primary"  # the probe succeeds
        assert pool.breaker_states()["primary"] == "closed"
        assert stats.llm_calls["primary"] == 2
    finally:
        await pool.aclose()
        await primary.stop()
        await secondary.stop()


async def test_single_flight_100_concurrent_callers_make_one_call():
    async with FakeLLM(flavour="lmstudio", latency_s=0.2, reply="shared answer") as fake:
        pool = LLMPool([(client(fake, "llm"), CircuitBreaker())], Stats())
        flights = SingleFlight()

        async def caller() -> str:
            flight, _ = flights.join("same question", lambda f: pool.fill(REQUEST, f))
            return "".join([piece async for piece in flight.follow()])

        answers = await asyncio.gather(*(caller() for _ in range(100)))
        await pool.aclose()
    assert fake.calls == 1
    assert answers == ["shared answer"] * 100
    assert len(flights) == 0  # the finished flight is forgotten


async def test_single_flight_failure_reaches_every_caller_and_is_not_remembered():
    flights = SingleFlight()
    attempts = 0

    async def failing(flight: Flight) -> None:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise NoBackendAvailable

    joined = [flights.join("q", failing)[0] for _ in range(10)]
    assert len({id(f) for f in joined}) == 1
    for flight in joined:
        with pytest.raises(NoBackendAvailable):
            await flight.started()
    await asyncio.sleep(0)
    flight, leader = flights.join("q", failing)
    assert leader  # a new flight after the failure
    with pytest.raises(NoBackendAvailable):
        await flight.started()
    assert attempts == 2


async def test_a_caller_that_leaves_does_not_stop_the_others():
    async with FakeLLM(
        flavour="lmstudio", token_delay_s=0.02, chunk_chars=2, reply="a long enough answer"
    ) as fake:
        pool = LLMPool([(client(fake, "llm"), CircuitBreaker())], Stats())
        flights = SingleFlight()
        first, _ = flights.join("q", lambda f: pool.fill(REQUEST, f))
        second, _ = flights.join("q", lambda f: pool.fill(REQUEST, f))
        follower = first.follow()
        await anext(follower)
        await follower.aclose()  # the first viewer's adapter gave up
        assert "".join([p async for p in second.follow()]) == "a long enough answer"
        await pool.aclose()


async def test_requests_the_backend_refuses_do_not_open_the_breaker(clock):
    async with FakeLLM(flavour="lmstudio") as fake:
        breaker = CircuitBreaker(failures=2, reset_s=60, clock=clock)
        pool = LLMPool([(client(fake, "llm"), breaker)], Stats())
        fake.fail_next(status=422, times=3, message="bad request")
        for _ in range(3):
            with pytest.raises(NoBackendAvailable):
                await answer(pool)
        assert breaker.state is BreakerState.CLOSED  # the backend is fine: the requests were not
        fake.fail_next(status=500, times=2)
        for _ in range(2):
            with pytest.raises(NoBackendAvailable):
                await answer(pool)
        assert breaker.state is BreakerState.OPEN
        await pool.aclose()
