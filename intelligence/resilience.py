"""Surviving a slow or dead LLM: a circuit breaker per backend, failover, and single-flight."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

from intelligence.llm import (
    ChatRequest,
    Completion,
    LLMClient,
    LLMError,
    LLMHung,
    LLMRequestError,
    Usage,
)
from intelligence.stats import Stats

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """closed → open after ``failures`` in a row → half-open after ``reset_s`` → one probe → closed.

    While open, calls are refused at once, so chat gets the offline answer without waiting.
    """

    def __init__(
        self, failures: int = 5, reset_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures_to_open = failures
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one probe at a time may."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failures_to_open:
            self._opened_at = self._clock()
        self._probing = False

    def trip(self) -> None:
        """Open now: the backend is hung, and every caller until the probe would wait for it."""
        self._opened_at, self._probing = self._clock(), False

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled): let another probe try."""
        self._probing = False


class NoBackendAvailable(Exception):
    """Every LLM is down or has its breaker open: answer offline."""


class LLMPool:
    """The configured LLMs in order of preference, each behind its own breaker."""

    def __init__(self, backends: list[tuple[LLMClient, CircuitBreaker]], stats: Stats) -> None:
        self.backends = backends
        self.stats = stats

    @property
    def model(self) -> str:
        return self.backends[0][0].model if self.backends else "offline"

    def available(self) -> bool:
        """Is there a backend whose breaker is not open? (No probe is used up by asking.)"""
        return any(b.state is not BreakerState.OPEN for _, b in self.backends)

    def breaker_states(self) -> dict[str, str]:
        return {client.name: breaker.state.value for client, breaker in self.backends}

    async def fill(self, request: ChatRequest, flight: Flight) -> None:
        """Stream the answer of the first backend that works into ``flight``. Failover happens
        only before the first piece: after that, switching would show two different answers."""
        for client, breaker in self.backends:
            if not breaker.allow():
                continue
            started = time.perf_counter()
            stream = client.stream(request)
            try:
                async for piece in stream:
                    flight.push(piece)
            except LLMError as exc:
                self._failed(client, breaker, exc)
                if flight.pieces:
                    raise
                continue
            except BaseException:
                breaker.abandon()
                raise
            breaker.success()
            self._record(client, stream.usage, started)
            flight.usage = stream.usage
            return
        raise NoBackendAvailable

    async def complete(self, request: ChatRequest) -> Completion:
        for client, breaker in self.backends:
            if not breaker.allow():
                continue
            started = time.perf_counter()
            try:
                completion = await client.complete(request)
            except LLMError as exc:
                self._failed(client, breaker, exc)
                continue
            except BaseException:
                breaker.abandon()
                raise
            breaker.success()
            self._record(client, completion.usage, started)
            return completion
        raise NoBackendAvailable

    def _failed(self, client: LLMClient, breaker: CircuitBreaker, exc: LLMError) -> None:
        self.stats.record_llm_error(client.name)
        log.warning("%s", exc)
        if isinstance(exc, LLMRequestError) and exc.blames_request:
            breaker.abandon()  # one bad request must not open the breaker for everyone
        elif isinstance(exc, LLMHung):
            breaker.trip()  # one viewer waited for it; the next ones get the offline answer
        else:
            breaker.failure()

    def _record(self, client: LLMClient, usage: Usage | None, started: float) -> None:
        self.stats.record_llm_call(
            client.name,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            time.perf_counter() - started,
        )

    async def aclose(self) -> None:
        for client, _ in self.backends:
            await client.aclose()


class Flight:
    """One backend call whose pieces any number of callers can follow, from the start."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.usage: Usage | None = None
        self.done = False
        self.error: BaseException | None = None
        self.callers = 0  # callers that joined and have not left
        self.abandon: Callable[[], object] = lambda: None  # stops the call: nobody waits for it
        self._changed = asyncio.Event()

    def leave(self) -> None:
        """A caller went away (a client hung up mid-stream): when it was the last one, the
        backend call stops rather than run, and bill tokens, for nobody."""
        self.callers -= 1
        if self.callers == 0 and not self.done:
            self.abandon()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def push(self, piece: str) -> None:
        self.pieces.append(piece)
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        self.done, self.error = True, error
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def started(self) -> None:
        """Wait for the first piece or the end. Raises the flight's error if none came."""
        while not self.pieces and not self.done:
            await self._changed.wait()
        if not self.pieces and self.error is not None:
            raise self.error

    async def follow(self) -> AsyncIterator[str]:
        sent = 0
        while True:
            while sent < len(self.pieces):
                sent += 1
                yield self.pieces[sent - 1]
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await self._changed.wait()


class SingleFlight:
    """Concurrent identical requests share one backend call."""

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str, run: Callable[[Flight], Awaitable[None]]) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether this caller started it. ``run`` fills the flight;
        it runs as its own task, so a caller that goes away does not stop the others."""
        flight = self._flights.get(key)
        if flight is not None:
            flight.callers += 1
            return flight, False
        flight = self._flights[key] = Flight()
        flight.callers = 1

        async def fly() -> None:
            try:
                await run(flight)
                flight.finish()
            except BaseException as exc:  # every follower must see the failure
                flight.finish(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                del self._flights[key]

        task = asyncio.create_task(fly())
        flight.abandon = task.cancel
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return flight, True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
