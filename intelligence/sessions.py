"""Conversation history per viewer or per conversation, for follow-up questions.

Bounded in two ways: a session keeps its last few turns, and a sweep every minute drops
sessions idle for more than an hour (an LRU bound caps their number in between).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

IDLE_S = 3600.0
SWEEP_EVERY_S = 60.0
MAX_SESSIONS = 10_000
MAX_TURNS = 6  # question-answer pairs kept per session


@dataclass(slots=True)
class Session:
    last_used: float
    messages: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=2 * MAX_TURNS))


class Sessions:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        idle_s: float = IDLE_S,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._sessions)

    def history(self, key: str) -> list[dict[str, str]]:
        session = self._sessions.get(key)
        return list(session.messages) if session is not None else []

    def add_turn(self, key: str, question: str, answer: str) -> None:
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = Session(self._clock())
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        session.last_used = self._clock()
        self._sessions.move_to_end(key)
        session.messages.append({"role": "user", "content": question})
        session.messages.append({"role": "assistant", "content": answer})

    def sweep(self) -> int:
        """Drop sessions idle for longer than ``idle_s``; return how many went."""
        now = self._clock()
        idle = [k for k, s in self._sessions.items() if now - s.last_used > self.idle_s]
        for key in idle:
            del self._sessions[key]
        return len(idle)

    def start(self) -> None:
        """Sweep idle sessions every minute until ``aclose``."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            self.sweep()

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
