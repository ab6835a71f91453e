"""The real twitchio 3 commands.Bot runs against FakeTwitch: startup, chat in and out, Twitch's
chat rules, socket drops, Twitch-initiated reconnects, outages and expired tokens.

How a test starts a bot against the fake (see the ``bot`` fixture):
- Bot(client_id=fake.client_id, client_secret=fake.client_secret, bot_id=..., prefix=...);
- user tokens come from ``fake.add_user_token`` and are loaded by overriding ``load_tokens``
  (twitchio calls it from login(), before setup_hook), so no .tio.tokens.json is read;
- ``bot.start(with_adapter=False, save_tokens=False)``: no web adapter on :4343, no token file;
- subscribe in ``setup_hook``; shut down with ``bot.close()`` and await the start task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import twitchio
import twitchio.eventsub.websockets
from twitchio import eventsub
from twitchio.backoff import Backoff
from twitchio.ext import commands

from fakes.twitch import CHAT_MESSAGE, FakeTwitch, NoSubscriberError

OWNER_ID, BOT_ID, VIEWER_ID = "100", "200", "300"


class Replies(commands.Component):
    def __init__(self, bot: FakeBot) -> None:
        self.bot = bot

    @commands.command()
    async def ping(self, ctx: commands.Context) -> None:
        await ctx.reply("pong")  # sent with the app token: twitchio's default for replies

    @commands.command()
    async def say(self, ctx: commands.Context, *, text: str) -> None:
        await ctx.send(text)

    @commands.Component.listener()
    async def event_message(self, payload: twitchio.ChatMessage) -> None:
        if payload.chatter.id == self.bot.bot_id:
            return  # the fake, like Twitch, echoes the bot's own messages
        self.bot.seen.append(payload)
        if payload.text.startswith("hey quipbot"):
            await payload.broadcaster.send_message(
                f"hey {payload.chatter.display_name}",
                sender=self.bot.bot_id,
                token_for=self.bot.bot_id,  # the bot's user token instead of the app token
                reply_to_message_id=payload.id,
            )


class FakeBot(commands.Bot):
    def __init__(self, fake: FakeTwitch, access: str, refresh: str) -> None:
        super().__init__(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            bot_id=BOT_ID,
            owner_id=OWNER_ID,
            prefix="!",
        )
        self._user_tokens = [(access, refresh)]
        self.seen: list[twitchio.ChatMessage] = []
        self.errors: list[Exception] = []
        self.refreshed: list[twitchio.TokenRefreshedPayload] = []

    async def load_tokens(self, path: str | None = None) -> None:
        for access, refresh in self._user_tokens:
            await self.add_token(access, refresh)

    async def setup_hook(self) -> None:
        await self.add_component(Replies(self))
        chat = eventsub.ChatMessageSubscription(broadcaster_user_id=OWNER_ID, user_id=BOT_ID)
        await self.subscribe_websocket(chat, token_for=BOT_ID)

    async def event_error(self, payload: twitchio.EventErrorPayload) -> None:
        self.errors.append(payload.error)

    async def event_command_error(self, payload: commands.CommandErrorPayload) -> None:
        self.errors.append(payload.exception)

    async def event_token_refreshed(self, payload: twitchio.TokenRefreshedPayload) -> None:
        self.refreshed.append(payload)


async def start_bot(bot: commands.Bot, timeout: float = 10.0) -> asyncio.Task[None]:
    """Run bot.start() in the background until the bot is ready; surface startup errors."""
    task = asyncio.create_task(bot.start(with_adapter=False, save_tokens=False))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when="FIRST_COMPLETED")
    if ready not in done:
        ready.cancel()
        if task in done:
            task.result()  # raises the startup error
        task.cancel()
        raise TimeoutError(f"bot not ready after {timeout}s")
    return task


async def stop_bot(bot: commands.Bot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait_for(task, 5)


class QuickBackoff(Backoff):
    def calculate(self) -> float:
        return 0.05


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten twitchio's websocket retry delay. Request it before ``bot``.

    twitchio has no setting for it: Websocket.__init__ hardcodes Backoff(base=3,
    maximum_time=90), so a failed reconnect waits uniform(0, 6) s, then doubles, up to 90 s,
    and the state is never reset after a success (measured: three 0.2 s outages in a row cost
    5.5 s, 10.9 s and 28.4 s). Replacing the name the module looks up is the narrowest hook.
    A plain socket drop does not need this: the first reconnect attempt is immediate.
    """
    monkeypatch.setattr(twitchio.eventsub.websockets, "Backoff", QuickBackoff)


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays twitchio's websockets wait before a reconnect attempt (each one shortened as
    by ``quick_backoff``). Request it before ``bot``."""
    delays: list[float] = []

    class RecordedBackoff(QuickBackoff):
        def calculate(self) -> float:
            delays.append(super().calculate())
            return delays[-1]

    monkeypatch.setattr(twitchio.eventsub.websockets, "Backoff", RecordedBackoff)
    return delays


@pytest.fixture
def websockets(monkeypatch: pytest.MonkeyPatch) -> list[twitchio.eventsub.websockets.Websocket]:
    """Every twitchio websocket made from now on, open or closed. Request it before ``bot``.
    (Looking for them in gc.get_objects() costs seconds once the suite holds many objects.)"""
    made: list[twitchio.eventsub.websockets.Websocket] = []
    init = twitchio.eventsub.websockets.Websocket.__init__

    def recorded(self: twitchio.eventsub.websockets.Websocket, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(twitchio.eventsub.websockets.Websocket, "__init__", recorded)
    return made


@pytest.fixture
async def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTwitch]:
    monkeypatch.chdir(tmp_path)  # a token file twitchio wrote would land here
    async with FakeTwitch() as fake:
        fake.add_user(OWNER_ID, "owner", "Owner")
        fake.add_user(BOT_ID, "quipbot", "QuipBot")
        fake.add_user(VIEWER_ID, "viewer", "Viewer")
        fake.add_moderator(OWNER_ID, BOT_ID)  # lets the bot chat there with the app token
        with fake.patch_twitchio():
            yield fake


@pytest.fixture
async def bot(fake: FakeTwitch) -> AsyncIterator[FakeBot]:
    bot = FakeBot(fake, *fake.add_user_token(BOT_ID))
    task = await start_bot(bot)
    try:
        yield bot
    finally:
        await stop_bot(bot, task)


async def test_startup_sequence(fake: FakeTwitch, bot: FakeBot, tmp_path: Path) -> None:
    calls = [(r.method, r.path, r.status) for r in fake.requests]
    assert calls == [
        ("POST", "/oauth2/token", 200),  # app token
        ("GET", "/oauth2/validate", 200),  # the app token
        ("GET", "/oauth2/validate", 200),  # the bot's user token, from add_token
        ("GET", "/helix/users", 200),  # bot user
        ("GET", "/helix/users", 200),  # owner
        ("GET", "/ws", 101),
        ("POST", "/helix/eventsub/subscriptions", 202),
    ]
    token_request, app_validate, user_validate, bot_user, owner_user, _, subscribe = fake.requests
    assert token_request.query["grant_type"] == "client_credentials"
    # twitchio validates with both schemes; the fake accepts both.
    assert app_validate.headers["Authorization"].startswith("Bearer ")
    assert user_validate.headers["Authorization"].startswith("OAuth ")
    assert (bot_user.query["id"], owner_user.query["id"]) == (BOT_ID, OWNER_ID)
    assert bot.user is not None and bot.user.name == "quipbot"

    [session_id] = fake.sessions
    assert subscribe.json == {
        "type": CHAT_MESSAGE,
        "version": "1",
        "condition": {"broadcaster_user_id": OWNER_ID, "user_id": BOT_ID},
        "transport": {"method": "websocket", "session_id": session_id},
    }
    assert fake.tokens[str(subscribe.token)].user_id == BOT_ID
    [sub] = fake.subscriptions[session_id]
    assert sub.condition == {"broadcaster_user_id": OWNER_ID, "user_id": BOT_ID}

    await bot.close()
    assert not (tmp_path / ".tio.tokens.json").exists()
    assert not bot.errors


async def test_command_reply_carries_parent_message_id(fake: FakeTwitch, bot: FakeBot) -> None:
    message_id = await fake.send_chat(OWNER_ID, VIEWER_ID, "!ping")

    [sent] = await fake.wait_for_chat(1)
    assert sent.body == {
        "broadcaster_id": OWNER_ID,
        "sender_id": BOT_ID,
        "message": "pong",
        "reply_parent_message_id": message_id,
    }
    assert (sent.status, sent.is_sent) == (200, True)
    assert fake.tokens[sent.token].user_id is None  # app token

    # The reply comes back over EventSub, as on Twitch; Bot.event_message ignores it.
    await fake.wait_for(
        lambda: any(n.event["message_id"] == sent.message_id for n in fake.notifications)
    )
    await asyncio.sleep(0.1)
    assert len(fake.sent_chat) == 1
    assert not bot.errors


async def test_listener_reply_with_user_token(fake: FakeTwitch, bot: FakeBot) -> None:
    message_id = await fake.send_chat(OWNER_ID, VIEWER_ID, "hey quipbot", badges=())

    [sent] = await fake.wait_for_chat(1)
    assert sent.message == "hey Viewer"
    assert sent.reply_parent_message_id == message_id
    assert fake.tokens[sent.token].user_id == BOT_ID


async def test_chat_message_model(fake: FakeTwitch, bot: FakeBot) -> None:
    first = await fake.send_chat(OWNER_ID, VIEWER_ID, "first")
    second = await fake.send_chat(
        OWNER_ID,
        OWNER_ID,
        "@viewer welcome, @QuipBot say hi",
        badges=[("broadcaster", "1"), ("subscriber", "12", "14")],
        reply_to=first,
    )
    await fake.wait_for(lambda: len(bot.seen) == 2)

    plain, reply = bot.seen
    assert plain.id == first and plain.chatter.moderator and plain.reply is None
    assert reply.id == second and reply.broadcaster.id == OWNER_ID
    assert reply.chatter.broadcaster and reply.chatter.subscriber
    assert [u.id for u in reply.mentions] == [VIEWER_ID, BOT_ID]
    assert reply.reply is not None
    assert (reply.reply.parent_message_id, reply.reply.parent_user.id) == (first, VIEWER_ID)
    assert reply.colour is not None
    assert not bot.errors


async def test_duplicate_message_is_dropped(fake: FakeTwitch, bot: FakeBot) -> None:
    await fake.send_chat(OWNER_ID, VIEWER_ID, "!say same words")
    await fake.wait_for_chat(1)
    await fake.send_chat(OWNER_ID, VIEWER_ID, "!say same words")

    first, second = await fake.wait_for_chat(2)
    assert first.is_sent
    assert (second.status, second.is_sent, second.drop_code) == (200, False, "msg_duplicate")
    await fake.wait_for(lambda: bot.errors)
    [error] = bot.errors
    assert isinstance(error, commands.CommandInvokeError)
    assert isinstance(error.original, twitchio.MessageRejectedError)


async def test_too_long_message_is_refused(fake: FakeTwitch) -> None:
    access, _ = fake.add_user_token(BOT_ID)
    headers = {"Client-Id": fake.client_id, "Authorization": f"Bearer {access}"}
    body = {"broadcaster_id": OWNER_ID, "sender_id": BOT_ID, "message": "x" * 501}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.helix_url}chat/messages", json=body, headers=headers) as response,
    ):
        assert response.status == 400
        assert response.content_type == "application/json"
        error = await response.json()
    assert (error["error"], error["status"]) == ("Bad Request", 400)
    assert fake.sent_chat[-1].error == error["message"]


@pytest.mark.parametrize("close_code", [4000, None], ids=["close-frame", "tcp-reset"])
async def test_dropped_socket_reconnects_and_resubscribes(
    backoffs: list[float], fake: FakeTwitch, bot: FakeBot, close_code: int | None
) -> None:
    [old] = fake.active_subscriptions(CHAT_MESSAGE)

    await fake.drop_socket(code=close_code)
    assert not fake.active_subscriptions()  # Twitch forgets them with the socket
    new = await fake.wait_for_subscription(exclude={old.id}, timeout=5)

    assert backoffs == []  # twitchio's first reconnect attempt has no delay
    assert new.session_id != old.session_id and fake.sessions == [new.session_id]
    message_id = await fake.send_chat(OWNER_ID, VIEWER_ID, "!ping")
    [sent] = await fake.wait_for_chat(1)
    assert sent.reply_parent_message_id == message_id


async def test_outage_reconnects_after_backoff(
    quick_backoff: None, fake: FakeTwitch, bot: FakeBot
) -> None:
    [old] = fake.active_subscriptions(CHAT_MESSAGE)
    fake.refuse_websockets = True
    await fake.drop_socket()
    await fake.wait_for(lambda: any(r.path == "/ws" and r.status == 503 for r in fake.requests))
    with pytest.raises(NoSubscriberError):
        await fake.send_chat(OWNER_ID, VIEWER_ID, "lost in the outage", timeout=0.1)

    fake.refuse_websockets = False
    await fake.wait_for_subscription(exclude={old.id}, timeout=5)
    await fake.send_chat(OWNER_ID, VIEWER_ID, "!ping")
    await fake.wait_for_chat(1)


async def test_session_reconnect_keeps_session_and_subscription(
    websockets: list[twitchio.eventsub.websockets.Websocket], fake: FakeTwitch, bot: FakeBot
) -> None:
    [sub] = fake.active_subscriptions(CHAT_MESSAGE)
    subscribe_calls = len(fake.requests_to("/helix/eventsub/subscriptions", "POST"))

    await fake.send_session_reconnect()
    await fake.wait_for(
        lambda: (
            len(fake.connections) == 2
            and fake.connections[1].reconnect
            and fake.connections[0].closed_at is not None
        )
    )
    # Twitch migrates the session: same id, same subscription, no resubscribe.
    assert fake.sessions == [sub.session_id]
    assert fake.active_subscriptions() == [sub]
    assert len(fake.requests_to("/helix/eventsub/subscriptions", "POST")) == subscribe_calls
    message_id = await fake.send_chat(OWNER_ID, VIEWER_ID, "!ping")
    [sent] = await fake.wait_for_chat(1)
    assert sent.reply_parent_message_id == message_id

    # twitchio 3.3.2 quirk: the new socket gets the same session id, and closing the old one
    # removes it from Client._websockets, so bot.close() leaves it connected. Close it here.
    await bot.close()
    assert len(websockets) == 2  # the first socket and the one Twitch moved the session to
    orphans = [ws for ws in websockets if ws.connected]
    assert len(orphans) == 1, "twitchio fixed the orphaned socket; drop this workaround"
    assert fake.sessions == [sub.session_id]
    for ws in orphans:
        await ws.close()
    await fake.wait_for(lambda: not fake.sessions)


async def test_expired_user_token_is_refreshed(fake: FakeTwitch, bot: FakeBot) -> None:
    [old] = fake.active_subscriptions(CHAT_MESSAGE)
    old_access = bot.tokens[BOT_ID]["token"]
    fake.expire_token(old_access)

    await fake.drop_socket()  # resubscribing needs the bot's user token
    await fake.wait_for_subscription(exclude={old.id}, timeout=5)

    subscribe_statuses = [r.status for r in fake.requests_to("/helix/eventsub/subscriptions")]
    assert subscribe_statuses == [202, 401, 202]
    grants = [r.query["grant_type"] for r in fake.requests_to("/oauth2/token")]
    assert grants == ["client_credentials", "refresh_token"]
    new_access = bot.tokens[BOT_ID]["token"]
    assert new_access != old_access and fake.tokens[new_access].user_id == BOT_ID
    await fake.wait_for(lambda: bot.refreshed)
    assert bot.refreshed[0].token == new_access


async def test_expired_app_token_is_regenerated(fake: FakeTwitch, bot: FakeBot) -> None:
    [app_token] = [t.access_token for t in fake.tokens.values() if t.user_id is None]
    fake.expire_token(app_token)

    message_id = await fake.send_chat(OWNER_ID, VIEWER_ID, "!ping")
    [sent] = await fake.wait_for_chat(1)
    assert sent.reply_parent_message_id == message_id
    assert [r.status for r in fake.requests_to("/helix/chat/messages")] == [401, 200]
    grants = [r.query["grant_type"] for r in fake.requests_to("/oauth2/token")]
    assert grants == ["client_credentials", "client_credentials"]


async def test_oauth_validate_accepts_both_schemes_and_rejects_expired() -> None:
    async with FakeTwitch() as fake, aiohttp.ClientSession() as http:
        fake.add_user(BOT_ID, "quipbot")
        access, _ = fake.add_user_token(BOT_ID)
        url = f"{fake.id_url}oauth2/validate"
        for scheme in ("OAuth", "Bearer"):
            async with http.get(url, headers={"Authorization": f"{scheme} {access}"}) as resp:
                assert resp.status == 200
                body = await resp.json()
            assert (body["user_id"], body["login"]) == (BOT_ID, "quipbot")
            assert body["expires_in"] > 3600 and "user:read:chat" in body["scopes"]

        fake.expire_token(access)
        async with http.get(url, headers={"Authorization": f"OAuth {access}"}) as resp:
            assert resp.status == 401
            assert await resp.json() == {"status": 401, "message": "invalid access token"}


async def test_websocket_keepalive_unused_and_inbound_rules() -> None:
    async with (
        FakeTwitch(keepalive_interval=0.05, unused_timeout=0.3) as fake,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(f"{fake.ws_url}?keepalive_timeout_seconds=5") as ws:
            welcome = await ws.receive_json(timeout=2)
            assert welcome["metadata"]["message_type"] == "session_welcome"
            assert welcome["payload"]["session"]["keepalive_timeout_seconds"] == 10  # clamped
            keepalive = await ws.receive_json(timeout=2)
            assert keepalive["metadata"]["message_type"] == "session_keepalive"
            while (message := await ws.receive(timeout=2)).type is aiohttp.WSMsgType.TEXT:
                pass  # more keepalives until Twitch gives up on the unused session
            assert ws.close_code == 4003

        async with http.ws_connect(fake.ws_url) as ws:
            await ws.receive_json(timeout=2)
            await ws.send_str("hello?")  # clients must never send
            while (message := await ws.receive(timeout=2)).type is aiohttp.WSMsgType.TEXT:
                pass
            assert message.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4001
        assert not fake.sessions
