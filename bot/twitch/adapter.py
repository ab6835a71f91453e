"""The Twitch adapter: chat arrives over an EventSub websocket, replies leave through Helix.

twitchio 3 does the protocol: it logs in, subscribes to ``channel.chat.message`` in every
channel of ``twitch.channels``, reconnects and resubscribes when the socket drops, and
refreshes the tokens on a 401. This module turns each chat message into a neutral
``ChatMessage`` for the router and each reply into paced, sanitised chat messages (see
``outbox``). When Twitch cannot be reached, ``run`` says so in ``status()`` and tries
again; it never raises for an outage, so the other platforms carry on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import twitchio
from twitchio import eventsub

from bot.twitch.outbox import ChannelOutbox, Clock, Outgoing, SendResult, Sleep
from bot.twitch.quirks import quiet_twitchio, twitch_error
from bot.twitch.text import (
    MODERATOR_BADGES,
    channel_logins,
    chat_parts,
    mention_question,
    roles_from_badges,
)
from bot.twitch.tokens import (
    AUTH_HINT,
    NoBotToken,
    StoredToken,
    TokenFileError,
    TokenStore,
    lacking_scopes,
    pick_bot_token,
)
from commands.texts import text as bot_text
from commands.types import ChatMessage, Platform, Reply
from intelligence.moderation import Layer, Stage, Verdict, Where
from intelligence.sources import Source

if TYPE_CHECKING:
    from twitchio.authentication import ValidateTokenPayload
    from twitchio.eventsub.websockets import Websocket

    from bot.app import App

log = logging.getLogger(__name__)
quiet_twitchio()

LOGIN_TIMEOUT_S = 60.0  # logging in, loading tokens and joining every channel
SEND_TIMEOUT_S = 10.0  # one Helix chat POST; twitchio's own timeout is 5 minutes
RETRY_DELAYS_S = (2.0, 5.0, 10.0, 30.0, 60.0)  # between attempts to reach Twitch
TRANSIENT_RETRY_S = 2.0  # before sending again after a 429, a 5xx or a network error
AUTOMOD_TIMEOUT_S = 3.0  # an AutoMod check that takes longer lets the answer through
# What the LLM wrote (now, or earlier and cached) is what AutoMod is asked about.
LLM_TEXT = frozenset({Source.LLM, Source.L1, Source.L2, Source.FUZZY})


class TwitchDown(Exception):
    """Twitch cannot be used now; the message says why, in plain words."""


class TwitchAdapter:
    name = "twitch"

    def __init__(
        self,
        app: App,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        """``clock`` and ``sleep`` pace the outgoing chat (tests pass virtual time);
        ``retry_delays`` space the attempts to reach Twitch."""
        self.app = app
        self.settings = app.settings.twitch
        self.bot_id = self.settings.bot_id
        self.bot_login = ""  # known once logged in
        self.tokens = TokenStore.for_settings(app.settings)
        self.channels: dict[str, str] = {}  # broadcaster id → login, for the joined channels
        self.outboxes: dict[str, ChannelOutbox] = {}  # by broadcaster id
        self.received = 0  # chat messages taken from the socket, the bot's own included
        self.handled = 0  # ... and fully handled (a reply, if any, is queued)
        self._clock = clock
        self._sleep = sleep
        self._retry_delays = retry_delays
        self._client: _Client | None = None
        self._down: str | None = None
        self._user_token_channels: set[str] = set()  # where the app token may not chat

    # ------------------------------------------------------------------ lifecycle

    def status(self) -> str:
        if self._down is not None:
            return f"down: {self._down}"
        client = self._client
        if client is not None and any(
            ws.connected and ws.subscription_count for ws in client.sockets.every
        ):
            return "up"
        return "connecting"  # logging in, or twitchio is reconnecting the socket

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                client = _Client(self)
                self._client = client
                joined = False
                try:
                    async with asyncio.timeout(LOGIN_TIMEOUT_S):
                        await client.login(load_tokens=True, save_tokens=False)
                    joined, self._down = True, None
                    await client.start(with_adapter=False, save_tokens=False)  # until closed
                    reason = client.stop_reason or "the Twitch client stopped"
                except TwitchDown as exc:
                    reason = str(exc)
                except TimeoutError:
                    reason = f"Twitch did not answer within {LOGIN_TIMEOUT_S:.0f} s"
                except twitchio.HTTPException as exc:
                    reason = f"Twitch answered {exc.status} ({twitch_error(exc)})"
                except (twitchio.TwitchioException, aiohttp.ClientError, OSError) as exc:
                    reason = f"cannot reach Twitch ({type(exc).__name__})"
                except Exception:
                    log.exception("twitch: unexpected error")
                    reason = "unexpected error (see the log above)"
                finally:
                    await client.aclose()
                failures = 0 if joined else failures + 1
                delay = self._retry_delays[min(max(failures - 1, 0), len(self._retry_delays) - 1)]
                self._down = reason
                log.warning("twitch: %s; trying again in %g s", reason, delay)
                await asyncio.sleep(delay)
        finally:
            self._client = None
            for box in self.outboxes.values():
                await box.aclose()

    async def _load_bot_token(self, client: _Client) -> None:
        async def validate(access: str, refresh: str, where: str) -> ValidateTokenPayload | str:
            try:
                return await client.add_token(access, refresh)
            except twitchio.HTTPException as exc:  # never log exc itself: it holds the token
                if exc.status >= 500:
                    raise TwitchDown(f"Twitch answered {exc.status} to a token check") from None
                return f"Twitch refused the token in {where} and its refresh token"

        try:
            validated, _ = await pick_bot_token(
                self.tokens, self.settings, validate, reject=client.remove_token
            )
        except NoBotToken as exc:
            raise TwitchDown(str(exc)) from None
        lacking = lacking_scopes(validated)
        if "user:read:chat" in lacking:
            raise TwitchDown(f"the bot's token cannot read chat (user:read:chat): {AUTH_HINT}")
        if lacking:
            log.error("twitch: the bot's token lacks %s: %s", " ".join(lacking), AUTH_HINT)

    async def _join(self, client: _Client) -> None:
        """Subscribe to chat in every channel of twitch.channels that exists."""
        self.bot_login = client.user.name if client.user and client.user.name else ""
        logins = channel_logins(self.settings.channels)
        if not logins:
            raise TwitchDown('twitch.channels is empty: list the channels to join, e.g. ["me"]')
        users = await client.fetch_users(logins=logins)
        ids = {user.name: user.id for user in users}
        unknown = [login for login in logins if login not in ids]
        if unknown:
            log.error("twitch: no Twitch channel named %s (twitch.channels)", ", ".join(unknown))
        joined = []
        for login in logins:
            if login not in ids:
                continue
            chat = eventsub.ChatMessageSubscription(
                broadcaster_user_id=ids[login], user_id=self.bot_id
            )
            try:
                await client.subscribe_websocket(chat, token_for=self.bot_id)
            except twitchio.HTTPException as exc:
                log.error("twitch: cannot join #%s (%s: %s)", login, exc.status, twitch_error(exc))
                continue
            self.channels[ids[login]] = login
            self._outbox(ids[login])
            joined.append(f"#{login}")
        if not joined:
            raise TwitchDown("could not join any channel of twitch.channels")
        log.info("twitch: chatting in %s as %s", ", ".join(joined), self.bot_login or self.bot_id)

    def _save_refreshed(self, payload: twitchio.TokenRefreshedPayload) -> None:
        try:
            known = self.tokens.get(payload.user_id)
            login = (
                known.login if known else self.bot_login if payload.user_id == self.bot_id else ""
            )
            scopes = list(payload.scopes) or (known.scopes if known else [])
            self.tokens.put(
                StoredToken(payload.user_id, login, payload.token, payload.refresh_token, scopes)
            )
        except TokenFileError as exc:
            log.error("twitch: a refreshed token could not be saved: %s", exc)

    # ------------------------------------------------------------------ chat in

    async def on_message(self, message: twitchio.ChatMessage) -> None:
        self.received += 1
        try:
            await self._answer(message)
        finally:
            self.handled += 1

    async def _answer(self, message: twitchio.ChatMessage) -> None:
        channel_id, chatter = message.broadcaster.id, message.chatter
        if chatter.id == self.bot_id:
            # Twitch echoes the bot's own messages; their badges tell whether it moderates here.
            box = self.outboxes.get(channel_id)
            if box is not None:
                box.moderator = any(b.set_id in MODERATOR_BADGES for b in message.badges)
            return
        text = message.text
        router = self.app.router
        if not text.startswith((router.prefix, "@")):
            return  # the hot path: most chat is not for the bot
        question = mention_question(text, self.bot_login)
        if question == "" or (question is None and not text.startswith(router.prefix)):
            return  # a bare "@bot", or "@someone_else" (how Twitch replies start)
        source = message.source_broadcaster
        if source is not None and source.id != channel_id and source.id in self.channels:
            return  # shared chat: the bot also sits in the source channel and answers there
        neutral = ChatMessage(
            platform=Platform.TWITCH,
            channel=message.broadcaster.name or channel_id,
            user_id=chatter.id,
            user_name=chatter.display_name or chatter.name or chatter.id,
            roles=roles_from_badges(
                (b.set_id for b in message.badges), is_broadcaster=chatter.id == channel_id
            ),
            text=text,
        )
        if question is None:
            reply = await router.handle(neutral)
        else:
            reply = await router.dispatch("mention", neutral, question)
        if reply is None:
            return
        said = await self._collect(reply)
        if self.settings.automod and reply.source in LLM_TEXT:
            where = Where(Platform.TWITCH, neutral.channel, neutral.user_id)
            if not await self._automod_permits(channel_id, said, where):
                said = bot_text(self.app.settings.bot.language, "blocked")
        parts = chat_parts(said)
        if not parts:
            log.info("twitch #%s: the reply was empty once sanitised", neutral.channel)
            return
        self._outbox(channel_id).put(parts, reply_to=message.id, mention=chatter.name or "")

    async def _collect(self, reply: Reply) -> str:
        """The whole answer: Twitch gets it in at most two messages, not as a stream."""
        try:
            return await reply.collect()
        except Exception:
            log.exception("twitch: the answer failed while streaming")
            return reply.text or bot_text(self.app.settings.bot.language, "error")

    async def _automod_permits(self, channel_id: str, said: str, where: Where) -> bool:
        """Would the channel's AutoMod let ``said`` through? When Twitch cannot say (no
        moderation:read grant, over its 5 checks a minute, slow), the gate's verdict stands."""
        client = self._client
        if client is None:
            return True
        check = twitchio.AutomodCheckMessage(id="1", text=said)
        try:
            async with asyncio.timeout(AUTOMOD_TIMEOUT_S):
                broadcaster = client.create_partialuser(channel_id)
                statuses = await broadcaster.check_automod_status(check, token_for=None)
        except twitchio.HTTPException as exc:
            log.info("twitch: no AutoMod check (%s: %s)", exc.status, twitch_error(exc))
            return True
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("twitch: no AutoMod check (%s)", type(exc).__name__)
            return True
        if all(status.permitted for status in statuses):
            return True
        verdict = Verdict(Layer.AUTOMOD, "the channel's AutoMod would hold it")
        self.app.gate.record(verdict, Stage.AUTOMOD, said, where)
        return False

    # ------------------------------------------------------------------ chat out

    def _outbox(self, channel_id: str) -> ChannelOutbox:
        box = self.outboxes.get(channel_id)
        if box is None:
            box = ChannelOutbox(
                self.channels.get(channel_id, channel_id),
                functools.partial(self._send, channel_id),
                moderator=channel_id == self.bot_id,  # the bot's own channel
                clock=self._clock,
                sleep=self._sleep,
            )
            self.outboxes[channel_id] = box
        return box

    async def _send(self, channel_id: str, text: str, item: Outgoing) -> SendResult:
        client = self._client
        if client is None or self._down is not None or client.sockets.closed:
            return SendResult(False, "not connected to Twitch", TRANSIENT_RETRY_S)
        # The app token gives the chat-bot badge, but needs channel:bot from the broadcaster
        # or a moderator bot; elsewhere the bot chats with its own user token.
        as_user = channel_id in self._user_token_channels
        broadcaster = client.create_partialuser(channel_id)
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await broadcaster.send_message(
                    text,
                    sender=self.bot_id,
                    token_for=self.bot_id if as_user else None,
                    reply_to_message_id=item.reply_to,
                )
        except twitchio.MessageRejectedError as exc:
            return SendResult(False, f"Twitch dropped it: {exc.code} ({exc.message})")
        except twitchio.HTTPException as exc:
            if exc.status == 403 and not as_user:
                self._user_token_channels.add(channel_id)
                log.warning(
                    "twitch #%s: the broadcaster has not granted channel:bot and the bot is no "
                    "moderator there, so it chats with its own token, without the bot badge "
                    "(%s, broadcaster link)",
                    self.channels.get(channel_id, channel_id),
                    AUTH_HINT,
                )
                return SendResult(False, "the app token may not chat here", 0.0)
            if exc.status == 429 or exc.status >= 500:
                return SendResult(False, f"Twitch answered {exc.status}", TRANSIENT_RETRY_S)
            return SendResult(False, f"Twitch refused it ({exc.status}: {twitch_error(exc)})")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = f"cannot reach Twitch ({type(exc).__name__})"
            return SendResult(False, reason, TRANSIENT_RETRY_S)
        return SendResult(True)


class _Client(twitchio.Client):
    """twitchio's client, wired to the adapter: tokens, channels, chat and revocations."""

    def __init__(self, adapter: TwitchAdapter) -> None:
        twitch = adapter.settings
        super().__init__(
            client_id=twitch.client_id,
            client_secret=twitch.client_secret.get_secret_value(),
            bot_id=twitch.bot_id,
        )
        self.quip = adapter
        self.stop_reason = ""
        self.sockets = _SocketBook()
        self._websockets = self.sockets

    async def load_tokens(self, path: str | None = None) -> None:
        await self.quip._load_bot_token(self)

    async def save_tokens(self, path: str | None = None) -> None:
        """Tokens are saved when they change (event_token_refreshed), never to .tio.tokens.json."""

    async def setup_hook(self) -> None:
        await self.quip._join(self)

    async def event_message(self, payload: twitchio.ChatMessage) -> None:
        await self.quip.on_message(payload)

    async def event_token_refreshed(self, payload: twitchio.TokenRefreshedPayload) -> None:
        self.quip._save_refreshed(payload)

    async def event_subscription_revoked(self, payload: Any) -> None:
        condition = payload.raw.get("condition", {})
        log.error(
            "twitch: Twitch ended the chat subscription for channel %s (%s)",
            condition.get("broadcaster_user_id", "?"),
            payload.status.value,
        )
        if not any(ws.connected and ws.subscription_count for ws in self.sockets.every):
            self.stop_reason = f"Twitch ended the chat subscriptions ({payload.status.value})"
            await self.close(save_tokens=False)  # run() starts over: log in, subscribe again

    async def aclose(self) -> None:
        await self.close(save_tokens=False)
        self.sockets.closed = True
        for ws in list(self.sockets.every):
            await ws.close()


class _SocketBook(dict[str, dict[str, "Websocket"]]):
    """``Client._websockets`` (token owner → session id → socket), remembering every socket.

    twitchio 3.3.2 loses a socket after a Twitch ``session_reconnect``: the new socket keeps the
    session id, so the old one's cleanup removes it from the client, and ``Client.close`` would
    leave it running. ``status`` and ``_Client.aclose`` use ``every`` instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.every: set[Websocket] = set()
        self.closed = False

    def __missing__(self, key: str) -> dict[str, Websocket]:
        self[key] = {}
        return dict.__getitem__(self, key)

    def __setitem__(self, key: str, sockets: dict[str, Websocket]) -> None:
        tracked = _Tracked(self)
        for session_id, ws in sockets.items():
            tracked[session_id] = ws
        super().__setitem__(key, tracked)


class _Tracked(dict[str, "Websocket"]):
    def __init__(self, book: _SocketBook) -> None:
        super().__init__()
        self._book = book

    def __setitem__(self, session_id: str, ws: Websocket) -> None:
        super().__setitem__(session_id, ws)
        current = {s for sockets in self._book.values() for s in sockets.values()}
        self._book.every = {s for s in self._book.every if s.connected or s in current}
        self._book.every.add(ws)
