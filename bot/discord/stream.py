"""Deliver a reply on Discord: a whole text in parts, or a stream shown by throttled edits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Protocol

from bot.discord.split import DISCORD_LIMIT, LOOKAHEAD, split_message, take_part

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.0  # Discord allows 5 edits per 5 s; one a second leaves room for the rest
CUT_MARK = " …"


class Sent(Protocol):
    """A message the bot posted and may edit."""

    @property
    def id(self) -> int: ...

    async def edit(self, content: str) -> None: ...

    async def delete(self) -> None: ...


class Outbox(Protocol):
    """Where a reply goes: an interaction's follow-ups, or replies in a channel."""

    async def send(self, content: str) -> Sent: ...


async def send_text(outbox: Outbox, text: str, *, limit: int = DISCORD_LIMIT) -> list[int]:
    """Send ``text`` in as many messages as it needs; returns their ids."""
    return [(await outbox.send(part)).id for part in split_message(text, limit)]


class StreamWriter:
    """Shows a growing answer by editing its message at most once per ``interval``.

    Writes go one at a time and the interval counts from the end of the previous one, so an
    edit that discord.py held back after a 429 pushes the next edit back too. Text past the
    limit finishes the message and continues in a new one.
    """

    def __init__(
        self, outbox: Outbox, *, interval: float = EDIT_INTERVAL_S, limit: int = DISCORD_LIMIT
    ) -> None:
        self.outbox = outbox
        self.interval = interval
        self.limit = limit
        self.message_ids: list[int] = []
        self.sent: list[Sent] = []  # the messages, in order
        self._current: Sent | None = None  # the message still growing
        self._shown = ""
        self._last_write = -math.inf

    async def write(self, pieces: AsyncIterator[str], *, when_empty: str) -> list[int]:
        """Stream ``pieces`` into messages; ``when_empty`` is sent if they hold no text."""
        buffer: list[str] = []
        changed = asyncio.Event()
        finished = False

        async def read() -> None:
            nonlocal finished
            try:
                async for piece in pieces:
                    buffer.append(piece)
                    changed.set()
            except Exception as exc:  # the viewer may already see part of the answer
                log.warning("discord: answer stream broke off: %s", exc)
                buffer.append(CUT_MARK)
            finally:
                finished = True
                changed.set()

        reader = asyncio.create_task(read())
        pending, taken = "", 0
        try:
            while True:
                await changed.wait()
                if self._current is not None:
                    await self._pace()  # more text gathers meanwhile: one edit shows it all
                changed.clear()
                done = finished
                pending += "".join(buffer[taken:])
                taken = len(buffer)
                while len(pending.lstrip()) >= self.limit + LOOKAHEAD or (
                    done and len(pending.strip()) > self.limit
                ):
                    part, pending = take_part(pending, self.limit)
                    await self._show(part)
                    self._current = None  # full: the rest goes in a new message
                if pending.strip():
                    await self._show(pending)
                if done:
                    break
            if not self.message_ids:
                await self._show(when_empty)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return self.message_ids

    async def _show(self, content: str) -> None:
        content = content.strip()
        if self._current is None:
            self._current = await self.outbox.send(content)
            self.message_ids.append(self._current.id)
            self.sent.append(self._current)
        elif content != self._shown:
            await self._pace()
            await self._current.edit(content)
        else:
            return
        self._shown = content
        self._last_write = asyncio.get_running_loop().time()

    async def _pace(self) -> None:
        wait = self._last_write + self.interval - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
