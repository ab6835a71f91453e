"""One outbox per Twitch channel: pacing under Twitch's chat limits, the duplicate guard, and
nothing lost silently (every message is sent, or dropped with a log line saying why).

No twitchio here: the adapter passes a ``send`` function that reports a ``SendResult``. Time
comes from ``clock`` and ``sleep``, so tests can run a 30-second window in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cachetools import TTLCache

from bot.twitch.text import MAX_CHARS, chat_parts

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Twitch: 20 messages per 30 s in a channel, 100 where the bot is a moderator or the
# broadcaster. The window gets one second of margin, because Twitch counts when a message
# arrives and network delays can bring two sends closer together than we sent them.
USER_LIMIT = 20
MODERATOR_LIMIT = 100
PACING_WINDOW_S = 31.0
# Twitch drops a message identical to one the same sender sent there in the last 30 s.
DUPLICATE_WINDOW_S = 31.0
STALE_AFTER_S = 30.0  # an answer this late is no longer an answer: drop it, and say so
MAX_QUEUE = 300
VARIANT_MARK = " \u2800"  # a blank braille cell: visible as a space, not whitespace for Twitch


@dataclass(slots=True)
class Outgoing:
    text: str
    reply_to: str | None  # the id of the viewer's message this answers
    mention: str  # the viewer's login, to make a repeated answer differ
    queued_at: float


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: bool
    reason: str = ""  # why it was not sent
    retry_after: float | None = None  # set for a passing failure: try the same message again


Send = Callable[[str, Outgoing], Awaitable[SendResult]]


class Pacer:
    """At most ``limit`` sends in any ``window`` seconds: a sliding window, as Twitch counts."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque(maxlen=MODERATOR_LIMIT)

    def wait_time(self) -> float:
        """Seconds until one more message fits in the window (0: now)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[-self.limit] + self.window - now

    def record(self) -> None:
        self._sent.append(self._clock())


class RecentMessages:
    """The texts sent in one channel within the duplicate window."""

    def __init__(self, window: float, clock: Clock) -> None:
        self.window = window
        # Far more entries than a channel may send in the window (100 as a moderator).
        self._sent: TTLCache[str, bool] = TTLCache(1000, ttl=window, timer=clock)

    def seen(self, text: str) -> bool:
        return text in self._sent

    def record(self, text: str) -> None:
        self._sent[text] = True


class ChannelOutbox:
    """Sends one channel's messages in order, one at a time, as fast as the limits allow."""

    def __init__(
        self,
        channel: str,
        send: Send,
        *,
        moderator: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        stale_after_s: float = STALE_AFTER_S,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.channel = channel  # the login, for log lines
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self.stale_after_s = stale_after_s
        self.max_queue = max_queue
        self.pacer = Pacer(MODERATOR_LIMIT if moderator else USER_LIMIT, PACING_WINDOW_S, clock)
        self.recent = RecentMessages(DUPLICATE_WINDOW_S, clock)
        self.sent = 0
        self.dropped: Counter[str] = Counter()  # by kind: stale, duplicate, refused, ...
        self._queue: deque[Outgoing] = deque()
        self._busy = False  # a message is being sent or waits for its slot
        self._wake = asyncio.Event()  # set when a message is queued
        self._raised = asyncio.Event()  # set when the limit goes up (the bot became a moderator)
        self._task: asyncio.Task[None] | None = None

    @property
    def moderator(self) -> bool:
        return self.pacer.limit == MODERATOR_LIMIT

    @moderator.setter
    def moderator(self, value: bool) -> None:
        if value != self.moderator:
            self.pacer.limit = MODERATOR_LIMIT if value else USER_LIMIT
            log.info("twitch #%s: pacing at %d messages / 30 s", self.channel, self.pacer.limit)
            if value:
                self._raised.set()

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy

    def put(self, parts: list[str], *, reply_to: str | None, mention: str) -> None:
        now = self._clock()
        for part in parts:
            if len(self._queue) >= self.max_queue:
                self._drop(self._queue.popleft(), "queue full")
            self._queue.append(Outgoing(part, reply_to, mention, now))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"twitch-outbox-{self.channel}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for item in self._queue:
            self._drop(item, "shutting down")
        self._queue.clear()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            self._busy = True
            try:
                await self._send_first()
            except Exception:  # a bug must not stall the channel on the same message forever
                log.exception("twitch #%s: sending failed unexpectedly", self.channel)
                self._drop(self._queue.popleft(), "error", "see the log above")
            finally:
                self._busy = False

    async def _send_first(self) -> None:
        delay = self.pacer.wait_time()
        if delay > 0:
            await self._wait_for_slot(delay)
            return
        item = self._queue[0]
        age = self._clock() - item.queued_at
        if age > self.stale_after_s:
            self._queue.popleft()
            self._drop(item, "stale", f"queued {age:.0f}s ago")
            return
        text = self._unique_text(item)
        if text is None:
            self._queue.popleft()
            self._drop(item, "duplicate", "same text already sent here in the last 30 s")
            return
        if not text:
            self._queue.popleft()
            self._drop(item, "empty", "nothing left after sanitising")
            return
        self.pacer.record()  # before sending: a request that fails late may still count
        result = await self._send(text, item)
        if result.sent:
            self.recent.record(text)
            self.sent += 1
            self._queue.popleft()
        elif result.retry_after is not None:
            log.info("twitch #%s: sending failed (%s); retrying", self.channel, result.reason)
            await self._sleep(result.retry_after)
        else:
            self._queue.popleft()
            self._drop(item, "refused", result.reason)

    async def _wait_for_slot(self, delay: float) -> None:
        """Sleep until the window has room, or until the limit goes up."""
        self._raised.clear()
        sleeping = asyncio.ensure_future(self._sleep(delay))
        raised = asyncio.ensure_future(self._raised.wait())
        try:
            await asyncio.wait({sleeping, raised}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeping, raised):
                waiter.cancel()

    def _unique_text(self, item: Outgoing) -> str | None:
        """The text to send, changed if needed so that Twitch does not drop it as a duplicate:
        first by naming the viewer, then with a blank mark. None when every form was sent; ""
        when nothing is left to send."""
        # The last gate: whatever queued the text, what leaves is one safe part of ≤ 500 chars.
        text = next(iter(chat_parts(item.text, max_parts=1)), "")
        if not text:
            return ""
        variants = [text, f"@{item.mention} {text}" if item.mention else "", text + VARIANT_MARK]
        for candidate in variants:
            if candidate and len(candidate) <= MAX_CHARS and not self.recent.seen(candidate):
                return candidate
        return None

    def _drop(self, item: Outgoing, kind: str, detail: str = "") -> None:
        self.dropped[kind] += 1
        log.warning(
            "twitch #%s: dropped a reply to %s (%s): %.80r",
            self.channel,
            item.mention,
            f"{kind}: {detail}" if detail else kind,
            item.text,
        )
