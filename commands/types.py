"""The neutral types every adapter speaks: a chat message in, a reply out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from intelligence.sources import Source


class Role(IntEnum):
    """Chat roles, ordered so that a higher role may do all a lower one may."""

    VIEWER = 0
    SUBSCRIBER = 1
    VIP = 2
    MODERATOR = 3
    BROADCASTER = 4


class Platform(StrEnum):
    CONSOLE = "console"
    TWITCH = "twitch"
    DISCORD = "discord"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    platform: Platform
    channel: str
    user_id: str  # the platform's stable id, never the display name
    user_name: str
    roles: frozenset[Role]
    text: str
    # The conversation this message belongs to, where the platform has one (a Discord reply
    # chain or thread, an HTTP conversation id): later questions in it get its history.
    conversation_id: str | None = None

    @property
    def level(self) -> Role:
        return max(self.roles, default=Role.VIEWER)


@dataclass(slots=True)
class Reply:
    """What a command answers: plain text, or an async stream of text chunks, and where it
    came from (a cache tier, the LLM, the offline fallback, or the bot's own words)."""

    text: str = ""
    stream: AsyncIterator[str] | None = field(default=None, repr=False)
    source: Source = Source.LOCAL
    # The joke this reply tells, so that a platform reaction (👍 on Discord) can vote for it.
    joke_id: str | None = None
    # LLM tokens (in, out) this reply cost; set when a stream ends. Goes to the chat log.
    tokens: tuple[int, int] = (0, 0)
    # Set when the reply refuses the command for now (a cooldown): the seconds until it may run.
    retry_after_s: float | None = None
    # Set when the gate stopped the stream: what was shown must be replaced by ``text``.
    blocked: bool = False

    async def collect(self) -> str:
        """The whole text, draining the stream if there is one (its replacement if the gate
        stopped it)."""
        if self.stream is None:
            return self.text
        parts = [self.text] if self.text else []
        async for chunk in self.stream:
            parts.append(chunk)
        if not self.blocked:
            self.text = "".join(parts)
        self.stream = None
        return self.text
