"""The router: prefix → command → permission → rate limit/cooldown → input validation → handler."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Iterable

from commands.definition import Command, Context
from commands.limits import Clock, Cooldowns, RateLimiter
from commands.output import Output
from commands.texts import text
from commands.types import ChatMessage, Reply, Role
from config.settings import LimitsSettings
from intelligence.safety import visible
from intelligence.sources import Source
from intelligence.stats import Stats
from intelligence.store import LogRow, Store

log = logging.getLogger(__name__)


def clean_text(raw: str) -> str:
    """NFKC-normalise, drop control/format characters, collapse whitespace."""
    normal = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    return " ".join(visible(normal, keep="\t\n\r\v\f").split())


class Router:
    def __init__(
        self,
        *,
        prefix: str,
        language: str,
        limits: LimitsSettings,
        stats: Stats,
        enforce_limits: bool = True,
        clock: Clock = time.monotonic,
        store: Store | None = None,
        output: Output | None = None,
    ) -> None:
        self.prefix = prefix
        self.language = language
        self.limits = limits
        self.stats = stats
        self.enforce_limits = enforce_limits
        self._clock = clock
        self.store = store  # where answers are logged
        self.output = output  # what every reply passes: the gate, the length of an answer
        self._typed: dict[str, Command] = {}  # every name and alias viewers may type → command
        self._by_name: dict[str, Command] = {}  # every command, hidden ones too
        self._ordered: list[Command] = []
        self._cooldowns: Cooldowns | None = None
        self._rate = RateLimiter(limits.user_rate_per_min, clock)

    def register(self, commands: Iterable[Command]) -> None:
        """Add the commands offered in this language; a name or alias taken twice is a bug."""
        for command in commands:
            if not command.offered_in(self.language):
                continue
            if command.name in self._by_name:
                raise ValueError(f"command {command.name!r} registered twice")
            self._by_name[command.name] = command
            self._ordered.append(command)
            if command.hidden:
                continue
            for name in command.names(self.language):
                if name in self._typed:
                    raise ValueError(f"command name {name!r} registered twice")
                self._typed[name] = command
        longest = max((self._cooldown_of(c) for c in self._ordered), default=0.0)
        self._cooldowns = Cooldowns(longest, self._clock)

    @property
    def commands(self) -> list[Command]:
        """Every registered command, hidden ones included, in the order they were added."""
        return list(self._ordered)

    def visible_to(self, level: Role) -> list[Command]:
        return [c for c in self._ordered if level >= c.min_role and not c.hidden]

    def find(self, typed: str) -> Command | None:
        """The command a viewer means by ``typed`` (a name or an alias, any case)."""
        return self._typed.get(typed.lower())

    def display_name(self, command: Command) -> str:
        """The name viewers know the command by in this language (!blague in fr)."""
        return command.display_name(self.language)

    async def handle(self, message: ChatMessage) -> Reply | None:
        self.stats.messages_in[message.platform] += 1
        if not message.text.startswith(self.prefix):  # the hot path: most chat is not for us
            return None
        raw = message.text[len(self.prefix) :]
        if not raw or raw[0].isspace():  # "! joke" and a lone "!" are just chat
            return None
        name, _, args = clean_text(raw).partition(" ")
        typed = name.lower()
        command = self._typed.get(typed)
        if command is None:
            return None  # unknown: say nothing rather than spam chat
        return await self._dispatch(message, command, typed, args)

    async def dispatch(self, name: str, message: ChatMessage, args: str) -> Reply | None:
        """Run the command called ``name`` (hidden ones too: "mention" when a viewer writes
        "@bot question") with ``args``, through every check a typed command goes through."""
        self.stats.messages_in[message.platform] += 1
        return await self._dispatch(message, self._by_name[name], name, clean_text(args))

    async def _dispatch(
        self, message: ChatMessage, command: Command, typed: str, args: str
    ) -> Reply | None:
        """Run ``command``, which the viewer called ``typed`` (!joke or !blague, in a French
        channel): a reply that names the command names it as they did."""
        if message.level < command.min_role:
            return None  # not allowed: silence, no error spam
        if self.enforce_limits and message.level < Role.MODERATOR:
            allowed, notice = self._check_limits(message, command, typed)
            if not allowed:
                return await self._said(notice, message)
        user, lang = message.user_name, self.language
        if len(args) > self.limits.max_prompt_chars:
            too_long = text(
                lang, "too_long", user=user, length=len(args), limit=self.limits.max_prompt_chars
            )
            return await self._said(Reply(too_long), message)
        context = Context(message, typed, args, lang, self.prefix, command)
        if command.needs_args and not args:
            return await self._said(context.usage(), message)
        started = time.perf_counter()
        try:
            reply = await command.handler(context)
        except Exception:
            log.exception("command %s failed for user %s", command.name, message.user_id)
            self.stats.record_error(command.name)
            return Reply(text(lang, "error"))
        if reply is None:
            return None
        reply = await self._said(reply, message)
        assert reply is not None
        self.stats.record_command(command.name, time.perf_counter() - started, reply.source)
        self.stats.replies_out[message.platform] += 1
        if self.store is not None and reply.source != Source.LOCAL:
            self._log_when_done(message, command.name, args, reply, started)
        return reply

    async def _said(self, reply: Reply | None, message: ChatMessage) -> Reply | None:
        """Every reply passes the output stage (the gate, the length of a chat answer)."""
        if reply is None or self.output is None:
            return reply
        return await self.output.screen(reply, message)

    def _log_when_done(
        self, message: ChatMessage, command: str, prompt: str, reply: Reply, started: float
    ) -> None:
        """Write the chat log row now, or when a streamed answer has been fully sent."""
        assert self.store is not None
        store = self.store

        def log_row(answer: str) -> None:
            store.log_chat(
                LogRow(
                    message.platform,
                    message.channel,
                    message.user_id,
                    command,
                    prompt,
                    reply.text if reply.blocked else answer,
                    Source.BLOCKED if reply.blocked else reply.source,
                    (time.perf_counter() - started) * 1000,
                    *reply.tokens,
                )
            )

        if reply.stream is None:
            log_row(reply.text)
            return
        inner = reply.stream

        async def logged() -> AsyncIterator[str]:
            parts: list[str] = []
            try:
                async for piece in inner:
                    parts.append(piece)
                    yield piece
            finally:
                log_row("".join(parts))

        reply.stream = logged()

    def _cooldown_of(self, command: Command) -> float:
        return self.limits.user_cooldown_s if command.cooldown_s is None else command.cooldown_s

    def _check_limits(
        self, message: ChatMessage, command: Command, typed: str
    ) -> tuple[bool, Reply | None]:
        """(allowed, the notice to send if refused). Over the rate limit, the bot stays silent."""
        user_key = f"{message.platform}:{message.user_id}"
        if not self._rate.allow(user_key):
            return False, None
        assert self._cooldowns is not None
        allowed, left, first_refusal = self._cooldowns.check(
            user_key, command.name, self._cooldown_of(command)
        )
        if allowed or not first_refusal:
            return allowed, None
        notice = text(
            self.language,
            "cooldown",
            user=message.user_name,
            seconds=max(1, round(left)),
            prefix=self.prefix,
            command=typed,
        )
        return False, Reply(notice, retry_after_s=left)

    def tracked_users(self) -> int:
        """How many per-user limit entries are held now (they expire on their own)."""
        return len(self._rate) + (len(self._cooldowns) if self._cooldowns else 0)
