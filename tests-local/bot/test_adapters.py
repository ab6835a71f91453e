"""Twitch and Discord in one process: either platform going down leaves the other serving."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import twitchio.eventsub.websockets
from discord import client as discord_client
from discord.backoff import ExponentialBackoff
from fakes.discord import FakeDiscord
from fakes.twitch import DEFAULT_USER_SCOPES, FakeTwitch
from twitchio.backoff import Backoff

import bot.discord
import bot.twitch
from bot.adapters import run_adapters
from bot.discord.adapter import DiscordAdapter
from bot.twitch.adapter import TwitchAdapter
from bot.twitch.tokens import StoredToken, TokenStore
from config.settings import Settings

OWNER, BOT, VIEWER = "100", "200", "300"
pytestmark = pytest.mark.usefixtures("isolated_env")


async def until(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


class QuickBackoff(Backoff):
    def calculate(self) -> float:
        return 0.05  # twitchio would wait up to 90 s between websocket retries


class QuickGatewayBackoff(ExponentialBackoff[bool]):
    def delay(self) -> float:
        return 0.05  # discord.py would wait a random 0-2 s, then 0-4 s... between reconnects


async def test_each_platform_keeps_serving_while_the_other_is_down(tmp_path, make_app, monkeypatch):
    monkeypatch.setattr(twitchio.eventsub.websockets, "Backoff", QuickBackoff)
    monkeypatch.setattr(discord_client, "ExponentialBackoff", QuickGatewayBackoff)
    monkeypatch.setattr(bot.twitch, "create", lambda app: TwitchAdapter(app, retry_delays=(0.05,)))
    monkeypatch.setattr(
        bot.discord,
        "create",
        lambda app: DiscordAdapter(app, guild_ready_timeout=0.05, retry_delays=(0.05,)),
    )
    twitch, discord = FakeTwitch(), FakeDiscord()
    await twitch.start()
    await discord.start()
    discord_port = discord.port
    for user_id, login in ((OWNER, "owner"), (BOT, "quipbot"), (VIEWER, "viewer")):
        twitch.add_user(user_id, login)
    twitch.add_moderator(OWNER, BOT)
    access, refresh = twitch.add_user_token(BOT)
    TokenStore(tmp_path / "data" / "twitch_tokens.json").put(
        StoredToken(BOT, "quipbot", access, refresh, list(DEFAULT_USER_SCOPES))
    )
    settings = Settings(
        bot={"data_dir": tmp_path / "data", "language": "en"},
        limits={"user_cooldown_s": 0, "user_rate_per_min": 0},
        twitch={
            "enabled": True,
            "client_id": twitch.client_id,
            "client_secret": twitch.client_secret,
            "bot_id": BOT,
            "owner_id": OWNER,
            "channels": ["owner"],
        },
        discord={"enabled": True, "token": FakeDiscord.TOKEN, "guild_ids": [FakeDiscord.GUILD_ID]},
    )
    app = await make_app(settings)

    async def twitch_answers(text: str) -> str:
        message_id = await twitch.send_chat(OWNER, VIEWER, text, badges=())
        await until(lambda: any(s.reply_parent_message_id == message_id for s in twitch.sent_chat))
        sent = next(s for s in twitch.sent_chat if s.reply_parent_message_id == message_id)
        return sent.body["message"]

    async def discord_answers() -> None:
        interaction = await discord.send_slash("joke")
        await discord.wait_for(
            lambda r: r.path.startswith(f"/interactions/{interaction}/"), timeout=10
        )

    with twitch.patch_twitchio(), discord.patch_discord():
        supervisor = asyncio.create_task(run_adapters(app, ["twitch", "discord"]))
        try:
            await until(lambda: {"twitch", "discord"} <= app.adapters.keys())
            adapters = app.adapters
            await until(lambda: all(a.status() == "up" for a in adapters.values()))

            await discord.stop()  # Discord goes away: Twitch carries on
            await until(lambda: adapters["discord"].status() != "up")
            assert await twitch_answers("!ping") == "🏓 Pong!"
            await discord.start(port=discord_port)
            await until(lambda: adapters["discord"].status() == "up")

            twitch.refuse_websockets = True  # Twitch goes away: Discord carries on
            await twitch.drop_socket()
            await discord_answers()
            twitch.refuse_websockets = False
            await until(lambda: twitch.active_subscriptions())
            # The same text within 30 s: the duplicate guard makes it differ.
            assert await twitch_answers("!ping") == "@viewer 🏓 Pong!"
            assert not supervisor.done()
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
            await discord.stop()
            await twitch.stop()
