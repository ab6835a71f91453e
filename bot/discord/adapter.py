"""The Discord adapter (discord.py 2.7): slash commands, prefix commands, mentions, reactions.

Every command reaches the same router as on Twitch. Answers never ping anyone (no allowed
mentions on the client, and the text is sanitised), long ones continue in follow-up messages,
and LLM answers stream by editing the message at most once a second. A 👍 or 👎 on a message
that told a joke is that user's ``!vote``. A Discord outage never raises out of ``run()``: the
client reconnects on its own, and a failed login is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord
from cachetools import LRUCache
from discord import app_commands

from bot.discord.slash import slash_commands
from bot.discord.stream import EDIT_INTERVAL_S, Outbox, Sent, StreamWriter, send_text
from commands import texts
from commands.definition import Command
from commands.types import ChatMessage, Platform, Reply, Role

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
DEFER_AFTER_S = 1.0  # Discord drops an interaction not answered within 3 s
MEMORY = 10_000  # bot messages remembered, for votes and for conversations
VOTES = {"👍": "+1", "👎": "-1"}
_SKIN_TONES_AND_VARIANTS = "\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff\ufe0f"


class DiscordAdapter:
    name = "discord"

    def __init__(
        self,
        app: App,
        *,
        guild_ready_timeout: float = 2.0,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        defer_after: float = DEFER_AFTER_S,
        edit_interval: float = EDIT_INTERVAL_S,
    ) -> None:
        self.app = app
        self.language = app.settings.bot.language
        self.sanitiser = app.sanitiser
        self.client: _Client | None = None
        self._guild_ready_timeout = guild_ready_timeout
        self._retry_delays = retry_delays
        self._defer_after = defer_after  # a slower answer is deferred, or shows typing
        self._edit_interval = edit_interval  # between two edits of a streamed answer
        self._message_content = True  # dropped if the developer portal has it off
        self._status = "connecting"
        self._was_up = False
        self._jokes: LRUCache[int, _Told] = LRUCache(MEMORY)  # by the bot's message id
        self._conversations: LRUCache[int, str] = LRUCache(MEMORY)  # message id → conversation

    def status(self) -> str:
        return self._status

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        token = self.app.settings.discord.token.get_secret_value()
        failures = 0
        while True:
            client = self.client = _Client(self, message_content=self._message_content)
            self._status = "connecting"
            try:
                await client.start(token)  # reconnects by itself after a lost gateway
                reason = "the connection was closed"
            except discord.PrivilegedIntentsRequired:
                if self._message_content:
                    log.warning(
                        "discord: the Message Content intent is off in the developer portal, "
                        "so prefix commands work only in DMs and mentions; turn it on under "
                        "Bot → Privileged Gateway Intents"
                    )
                    self._message_content = False
                    continue
                reason = "Discord refused the gateway intents"
            except discord.LoginFailure:
                reason = "Discord rejected discord.token"
            except Exception as exc:  # an outage, or discord.py tripping over one
                reason = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                await client.close()
            if self._was_up:
                failures, self._was_up = 0, False
            delay = self._retry_delays[min(failures, len(self._retry_delays) - 1)]
            failures += 1
            self._status = f"down: {reason}"
            log.warning("discord: down (%s); retrying in %.0f s", reason, delay)
            await asyncio.sleep(delay)

    def _up(self) -> None:
        if self._status != "up":
            log.info("discord: connected")
        self._status, self._was_up = "up", True

    def _reconnecting(self) -> None:
        self._status = "connecting"

    async def install_commands(self, tree: app_commands.CommandTree) -> None:
        """Register the slash commands and sync them: per guild (instant) or globally."""
        commands = slash_commands(
            self.app.commands,
            self.run_slash,
            language=self.language,
            max_chars=self.app.settings.limits.max_prompt_chars,
        )
        for command in commands:
            tree.add_command(command)
        guild_ids = self.app.settings.discord.guild_ids
        scopes: list[discord.Object | None] = [discord.Object(g) for g in guild_ids] or [None]
        for guild in scopes:
            if guild is not None:
                tree.copy_global_to(guild=guild)
            where = f"guild {guild.id}" if guild else "every server (global)"
            try:
                synced = await tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.error(
                    "discord: cannot sync slash commands to %s (%s); is the bot invited there "
                    "with the applications.commands scope? `quipbot check` prints the invite URL",
                    where,
                    exc,
                )
            else:
                log.info("discord: %d slash commands synced to %s", len(synced), where)

    # ------------------------------------------------------------------ slash commands

    async def run_slash(
        self, interaction: discord.Interaction, definition: Command, args: str
    ) -> None:
        router = self.app.router
        name = definition.name
        private = definition.min_role >= Role.MODERATOR  # moderators' answers are for them
        with self._answering(f"/{name}"):
            if name not in {c.name for c in router.visible_to(Role.BROADCASTER)}:
                await self._send_ephemeral(interaction, self._say("unavailable", command=name))
                return
            if definition.slow:
                await interaction.response.defer(thinking=True, ephemeral=private)
            # The thread, else the chain this answer starts: replies to it are follow-ups.
            conversation = _thread_id(interaction.channel) or str(interaction.id)
            message = ChatMessage(
                platform=Platform.DISCORD,
                channel=str(interaction.channel_id),
                user_id=str(interaction.user.id),
                user_name=interaction.user.display_name,
                roles=self._roles(interaction.user.id, interaction.guild, interaction.permissions),
                text=f"{router.prefix}{name} {args}",
                conversation_id=conversation,
            )

            async def defer() -> None:
                if not interaction.response.is_done():
                    await interaction.response.defer(thinking=True, ephemeral=private)

            reply = await _patiently(router.handle(message), defer, self._defer_after)
            if reply is None:  # refused by the router's limits: say so, to this user only
                if interaction.response.is_done():
                    with contextlib.suppress(discord.HTTPException):
                        await interaction.delete_original_response()
                await self._send_ephemeral(interaction, self._say("not_now"))
                return
            ids = await self._deliver(_InteractionOutbox(interaction, private), reply)
            self._remember(ids, reply, conversation)

    async def refuse(self, interaction: discord.Interaction) -> None:
        """A polite, private no for a command this user may not run."""
        name = interaction.command.name if interaction.command else "?"
        try:
            await self._send_ephemeral(interaction, self._say("refused", command=name))
        except discord.HTTPException as exc:
            log.warning("discord: could not refuse /%s: %s", name, exc)

    async def _send_ephemeral(self, interaction: discord.Interaction, text: str) -> None:
        await _InteractionOutbox(interaction, ephemeral=True).send(text)

    # ------------------------------------------------------------------ messages

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return  # never talk to bots, ourselves included
        router = self.app.router
        text = message.content
        addressed = message.guild is None or self._mentions_me(message)
        if addressed:
            text = self._without_my_mentions(message, text).strip()
        if not text.startswith(router.prefix) and not addressed:
            return  # the hot path: most chat is not for the bot
        conversation = self._conversation_of(message)
        chat = ChatMessage(
            platform=Platform.DISCORD,
            channel=str(message.channel.id),
            user_id=str(message.author.id),
            user_name=message.author.display_name,
            roles=self._message_roles(message),
            text=text if text else f"{router.prefix}help",  # a bare mention: show the commands
            conversation_id=conversation,
        )
        if chat.text.startswith(router.prefix):
            work = router.handle(chat)
        else:
            work = router.dispatch("mention", chat, text)
        with self._answering(f"message {message.id}"):
            reply = await _patiently(work, message.channel.typing, self._defer_after)
            if reply is None:
                return
            self._conversations[message.id] = conversation
            ids = await self._deliver(_ChannelOutbox(message), reply)
            self._remember(ids, reply, conversation)

    def _mentions_me(self, message: discord.Message) -> bool:
        """An @mention of the bot or its role, or a reply to the bot that kept its ping."""
        me = self._me()
        if me is None:
            return False
        if re.search(rf"<@!?{me.id}>", message.content):
            return True
        role = message.guild.self_role if message.guild else None
        if role is not None and role in message.role_mentions:
            return True
        replied = message.reference.resolved if message.reference else None
        return (
            isinstance(replied, discord.Message) and replied.author == me and me in message.mentions
        )

    def _without_my_mentions(self, message: discord.Message, text: str) -> str:
        me = self._me()
        role = message.guild.self_role if message.guild else None
        if me is not None:
            text = re.sub(rf"<@!?{me.id}>", " ", text)
        if role is not None:
            text = text.replace(role.mention, " ")
        return text

    def _conversation_of(self, message: discord.Message) -> str:
        """The reply chain's first message, else the thread, else the chain this one starts."""
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            return self._conversations.get(reference.message_id, str(reference.message_id))
        return _thread_id(message.channel) or str(message.id)

    # ------------------------------------------------------------------ reactions

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        me = self._me()
        score = VOTES.get((payload.emoji.name or "").rstrip(_SKIN_TONES_AND_VARIANTS))
        if score is None or me is None or payload.user_id == me.id:
            return
        if payload.member is not None and payload.member.bot:
            return
        told = self._jokes.get(payload.message_id)
        if told is None:
            return  # not a joke the bot told (or one it has forgotten)
        if payload.user_id in told.voters:
            return  # one vote per user per joke, whichever emoji
        told.voters.add(payload.user_id)
        member = payload.member
        channel = self.client.get_channel(payload.channel_id) if self.client else None
        permissions = _permissions(channel, member) if member is not None else None
        router = self.app.router
        chat = ChatMessage(
            platform=Platform.DISCORD,
            channel=str(payload.channel_id),
            user_id=str(payload.user_id),
            user_name=member.display_name if member else str(payload.user_id),
            roles=self._roles(payload.user_id, member.guild if member else None, permissions),
            text=f"{router.prefix}vote {score} #{told.joke_id}",
        )
        # The router's answer is not posted: a reaction is a quiet way to vote.
        await router.handle(chat)

    # ------------------------------------------------------------------ shared

    @contextlib.contextmanager
    def _answering(self, what: str) -> Iterator[None]:
        """Discord refusing an answer is logged, never raised: the bot carries on."""
        try:
            yield
        except discord.HTTPException as exc:
            if isinstance(exc, discord.NotFound) and exc.code == 10062:
                log.warning("discord: %s expired before it was answered (10062); dropped", what)
            else:
                log.warning("discord: could not answer %s: %s", what, exc)
        except Exception:
            if self.client is None or not self.client.is_closed():
                raise
            log.info("discord: %s dropped: the client is shutting down", what)

    async def _deliver(self, outbox: Outbox, reply: Reply) -> list[int]:
        if reply.stream is None:
            text = self.sanitiser.clean(reply.text).strip() or texts.text(self.language, "empty")
            return await send_text(outbox, text)
        # The pipeline cleaned whole sentences already: here, only word by word, to keep pace.
        pieces = self.sanitiser.stream(_pieces(reply), whole_sentences=False)
        writer = StreamWriter(outbox, interval=self._edit_interval)
        ids = await writer.write(pieces, when_empty=texts.text(self.language, "empty"))
        if reply.blocked:  # the gate stopped it: what was shown goes, the neutral line stays
            first, *rest = writer.sent
            await first.edit(reply.text)
            for message in rest:
                await message.delete()
            return ids[:1]
        return ids

    def _remember(self, ids: list[int], reply: Reply, conversation: str) -> None:
        for message_id in ids:
            self._conversations[message_id] = conversation
            if reply.joke_id is not None:
                self._jokes[message_id] = _Told(reply.joke_id)

    def _roles(
        self,
        user_id: int,
        guild: discord.Guild | None,
        permissions: discord.Permissions | None,
    ) -> frozenset[Role]:
        roles = {Role.VIEWER}
        if permissions is not None and guild is not None and permissions.manage_messages:
            roles.add(Role.MODERATOR)
        if guild is not None and guild.owner_id == user_id:
            roles.add(Role.BROADCASTER)
        return frozenset(roles)

    def _message_roles(self, message: discord.Message) -> frozenset[Role]:
        author = message.author
        if not isinstance(author, discord.Member) or message.guild is None:
            return frozenset({Role.VIEWER})
        return self._roles(author.id, message.guild, _permissions(message.channel, author))

    def _me(self) -> discord.ClientUser | None:
        return self.client.user if self.client else None

    def _say(self, key: str, **values: object) -> str:
        return texts.text(self.language, f"discord.{key}", **values)


def _permissions(channel: object, member: discord.Member) -> discord.Permissions:
    """The member's permissions where they spoke: the channel's overrides, else the server's."""
    if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return channel.permissions_for(member)
    return member.guild_permissions


@dataclass(slots=True)
class _Told:
    """A joke the bot told in a message, and who has voted on it there."""

    joke_id: str
    voters: set[int] = field(default_factory=set)


class _Client(discord.Client):
    def __init__(self, adapter: DiscordAdapter, *, message_content: bool) -> None:
        intents = discord.Intents(
            guilds=True,
            guild_messages=True,
            dm_messages=True,
            guild_reactions=True,
            dm_reactions=True,
            message_content=message_content,
        )
        super().__init__(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=adapter._guild_ready_timeout,
        )
        self.adapter = adapter
        self.tree = _Tree(self)

    async def setup_hook(self) -> None:
        await self.adapter.install_commands(self.tree)

    async def on_ready(self) -> None:
        self.adapter._up()

    async def on_resumed(self) -> None:
        self.adapter._up()

    async def on_disconnect(self) -> None:
        self.adapter._reconnecting()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.adapter.on_reaction(payload)


class _Tree(app_commands.CommandTree):
    client: _Client

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        adapter = self.client.adapter
        if isinstance(error, app_commands.MissingPermissions | app_commands.NoPrivateMessage):
            await adapter.refuse(interaction)
            return
        name = interaction.command.name if interaction.command else "?"
        log.error("discord: /%s failed", name, exc_info=error)
        with contextlib.suppress(discord.HTTPException):  # rather than "did not respond"
            await adapter._send_ephemeral(interaction, texts.text(adapter.language, "error"))


class _InteractionOutbox:
    """The interaction's own response first, then follow-ups (all ephemeral or none)."""

    def __init__(self, interaction: discord.Interaction, ephemeral: bool) -> None:
        self.interaction = interaction
        self.ephemeral = ephemeral

    async def send(self, content: str) -> Sent:
        response = self.interaction.response
        if not response.is_done():
            callback = await response.send_message(content, ephemeral=self.ephemeral)
            return _Original(self.interaction, callback.message_id or 0)
        # After a deferral, the first follow-up replaces the "thinking…" message.
        sent = await self.interaction.followup.send(content, wait=True, ephemeral=self.ephemeral)
        return _Editable(sent)


class _ChannelOutbox:
    """A reply to the user's message (without pinging them), then plain messages."""

    def __init__(self, source: discord.Message) -> None:
        self.source = source
        self.first = True

    async def send(self, content: str) -> Sent:
        channel = self.source.channel
        if self.first:
            self.first = False
            reference = self.source.to_reference(fail_if_not_exists=False)
            sent = await channel.send(content, reference=reference, mention_author=False)
        else:
            sent = await channel.send(content)
        return _Editable(sent)


class _Original:
    """The interaction's original response, edited through the interaction webhook."""

    def __init__(self, interaction: discord.Interaction, message_id: int) -> None:
        self.interaction = interaction
        self.id = message_id

    async def edit(self, content: str) -> None:
        await self.interaction.edit_original_response(content=content)

    async def delete(self) -> None:
        await self.interaction.delete_original_response()


class _Editable:
    def __init__(self, message: discord.Message | discord.WebhookMessage) -> None:
        self.message = message
        self.id = message.id

    async def edit(self, content: str) -> None:
        await self.message.edit(content=content)

    async def delete(self) -> None:
        await self.message.delete()


async def _patiently(
    work: Awaitable[Reply | None], when_slow: Callable[[], Awaitable[object]], after: float
) -> Reply | None:
    """Await ``work``; if it takes over ``after`` seconds, call ``when_slow`` (defer, typing)."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=after)
        if not done:
            await when_slow()
        return await task
    finally:
        if not task.done():
            task.cancel()


async def _pieces(reply: Reply) -> AsyncIterator[str]:
    if reply.text:
        yield reply.text
    assert reply.stream is not None
    async for piece in reply.stream:
        yield piece


def _thread_id(channel: object) -> str | None:
    """A thread is one conversation: follow-ups in it share its id."""
    return str(channel.id) if isinstance(channel, discord.Thread) else None
