"""The real discord.py client and app-command tree against FakeDiscord, fully offline."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from fakes.discord import FakeDiscord, RecordedRequest

F = FakeDiscord
GUILD = discord.Object(F.GUILD_ID)
WEBHOOK = f"/webhooks/{F.APPLICATION_ID}/"


class Bot(commands.Bot):
    """A small bot: /ask defers, follows up and edits; mentions get a channel.send reply."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,  # on_ready fires this long after the last GUILD_CREATE
        )
        self.seen: list[discord.Message] = []
        self.errors: list[Exception] = []

    async def setup_hook(self) -> None:
        for command in (ask, slow, purge):
            self.tree.add_command(command, guild=GUILD)
        await self.tree.sync(guild=GUILD)

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        if message.author == self.user:
            return  # Discord echoes the bot's own messages back
        assert self.user is not None
        if self.user in message.mentions or message.guild is None:
            await message.channel.send(f"pong: {message.content}")


@app_commands.command(description="Ask quipbot something")
@app_commands.describe(question="What to ask")
async def ask(interaction: discord.Interaction, question: str) -> None:
    await interaction.response.defer(thinking=True)
    followup = await interaction.followup.send(f"thinking about {question}", wait=True)
    await followup.edit(content=f"answer: {question}")


@app_commands.command(description="Answers after the 3 second window")
async def slow(interaction: discord.Interaction) -> None:
    await asyncio.sleep(0.15)
    try:
        await interaction.response.send_message("too late")
    except discord.HTTPException as exc:
        assert isinstance(interaction.client, Bot)
        interaction.client.errors.append(exc)


@app_commands.command(description="Moderators only")
@app_commands.default_permissions(manage_messages=True)
async def purge(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("purged", ephemeral=True)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    async with fake.run_client(Bot(), ready_timeout=5.0) as client:
        yield client
    assert fake.unhandled == [], "discord.py called routes the fake does not implement"
    assert fake.internal_errors == []


def is_(method: str, prefix: str) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == method and r.path.startswith(prefix)


def text_channel(bot: Bot) -> discord.TextChannel:
    channel = bot.get_channel(F.CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_login_ready_and_guild_command_sync(fake: FakeDiscord, bot: Bot) -> None:
    assert bot.user is not None and bot.user.id == F.BOT_USER_ID
    assert bot.application_id == F.APPLICATION_ID
    guild = bot.get_guild(F.GUILD_ID)
    assert guild is not None and guild.owner_id == F.OWNER_ID
    assert text_channel(bot).name == "general"
    assert math.isfinite(bot.latency)  # the first heartbeat was ACKed (inf until then)

    calls = [(r.method, r.path, r.status) for r in fake.requests]
    assert calls[:3] == [
        ("GET", "/users/@me", 200),
        ("GET", "/oauth2/applications/@me", 200),
        ("PUT", f"/applications/{F.APPLICATION_ID}/guilds/{F.GUILD_ID}/commands", 200),
    ]
    synced = {c["name"]: c for c in fake.synced_commands[F.GUILD_ID]}
    assert set(synced) == {"ask", "slow", "purge"}
    (question,) = synced["ask"]["options"]
    assert (question["name"], question["type"], question["required"]) == ("question", 3, True)
    manage_messages = discord.Permissions(manage_messages=True).value
    assert synced["purge"]["default_member_permissions"] == str(manage_messages)  # a string

    (connection,) = fake.gateway_connections
    assert connection.kind == "identify"
    assert connection.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert [f["op"] for f in connection.received[:2]] == [1, 2]  # heartbeat, then IDENTIFY


async def test_slash_command_defer_followup_and_edit(fake: FakeDiscord, bot: Bot) -> None:
    interaction_id = await fake.send_slash("ask", {"question": "why?"})
    edit = await fake.wait_for(is_("PATCH", WEBHOOK))

    record = fake.interactions[interaction_id]
    callback = fake.requests_to("POST", f"/interactions/{interaction_id}/")[0]
    followup = fake.requests_to("POST", WEBHOOK)[0]
    assert callback.json == {"type": 5} and callback.status == 200
    assert callback.query["with_response"] == "1"
    assert followup.path == f"{WEBHOOK}{record.token}" and followup.query["wait"] == "1"
    assert followup.json["content"] == "thinking about why?"
    # The first followup after a deferral replaces the "thinking" message...
    assert followup.response["id"] == str(record.original_message_id)
    # ...and the edit targets it by id.
    assert edit.path == f"{WEBHOOK}{record.token}/messages/{followup.response['id']}"
    assert edit.status == 200 and edit.json["content"] == "answer: why?"
    assert fake.messages[record.original_message_id]["content"] == "answer: why?"
    assert record.callback_type == 5 and record.callback_time is not None
    assert record.callback_time - record.created < 1.0


async def test_message_is_answered_with_channel_send(fake: FakeDiscord, bot: Bot) -> None:
    start = len(fake.requests)
    quiet_id = await fake.send_message("no mention here")
    loud_id = await fake.send_message(f"<@{F.BOT_USER_ID}> hello")
    reply = await fake.wait_for(is_("POST", f"/channels/{F.CHANNEL_ID}/messages"), start=start)

    assert reply.json["content"] == f"pong: <@{F.BOT_USER_ID}> hello"
    assert reply.json["allowed_mentions"] == {"parse": []}
    assert reply.response["author"]["id"] == str(F.BOT_USER_ID)
    # Without the message_content intent Discord blanks content that doesn't mention the bot.
    await asyncio.wait_for(_until(lambda: len(bot.seen) >= 3), 5.0)
    by_id = {m.id: m for m in bot.seen}
    assert by_id[quiet_id].content == ""
    assert by_id[loud_id].content == f"<@{F.BOT_USER_ID}> hello"
    own = by_id[int(reply.response["id"])]  # the echo of the bot's own message, ignored
    assert own.author == bot.user
    assert len(fake.requests_to("POST", f"/channels/{F.CHANNEL_ID}/messages")) == 1


async def test_direct_message_is_answered_in_the_dm(fake: FakeDiscord, bot: Bot) -> None:
    message_id = await fake.send_message("hi in private", dm=True)
    dm_channel_id = int(fake.messages[message_id]["channel_id"])
    reply = await fake.wait_for(is_("POST", f"/channels/{dm_channel_id}/messages"))

    assert reply.json["content"] == "pong: hi in private"  # DMs need no content intent
    received = next(m for m in bot.seen if m.id == message_id)
    assert isinstance(received.channel, discord.DMChannel) and received.guild is None
    user = await bot.fetch_user(F.USER_ID)
    assert (await user.send("hello")).channel.id == dm_channel_id


async def test_reaction_reaches_on_raw_reaction_add(fake: FakeDiscord, bot: Bot) -> None:
    message_id = await fake.send_message("react to me")
    waiter = asyncio.ensure_future(bot.wait_for("raw_reaction_add", timeout=5.0))
    await fake.send_reaction(message_id, "👍", F.USER_ID)
    event: discord.RawReactionActionEvent = await waiter

    assert (event.message_id, event.user_id, str(event.emoji)) == (message_id, F.USER_ID, "👍")
    assert event.guild_id == F.GUILD_ID and event.member is not None
    assert event.message_author_id == F.USER_ID


async def test_content_over_2000_chars_is_rejected_with_50035(bot: Bot) -> None:
    channel = text_channel(bot)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x" * 2001)
    assert (caught.value.status, caught.value.code) == (400, 50035)
    assert "In content: Must be 2000 or fewer in length." in caught.value.text
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send(" ")
    assert empty.value.code == 50006
    assert (await channel.send("x" * 2000)).content == "x" * 2000


async def test_429_on_channel_edit_is_retried_after_retry_after(
    fake: FakeDiscord, bot: Bot
) -> None:
    message = await text_channel(bot).send("v1")
    path = f"/channels/{F.CHANNEL_ID}/messages/{message.id}"
    fake.rate_limit_next("PATCH", path, retry_after=0.1)

    began = time.monotonic()
    edited = await message.edit(content="v2")
    assert time.monotonic() - began >= 0.1
    assert edited.content == "v2"
    limited, retried = fake.requests_to("PATCH", path)
    assert (limited.status, retried.status) == (429, 200)
    assert limited.response == {
        "message": "You are being rate limited.",
        "retry_after": 0.1,
        "global": False,
    }
    assert retried.time - limited.time >= 0.1


async def test_429_on_followup_edit_is_retried(fake: FakeDiscord, bot: Bot) -> None:
    fake.rate_limit_next("PATCH", WEBHOOK, retry_after=0.1)
    await fake.send_slash("ask", {"question": "again?"})
    await fake.wait_for(lambda r: r.method == "PATCH" and r.status == 200)
    assert [r.status for r in fake.requests_to("PATCH", WEBHOOK)] == [429, 200]


@pytest.mark.parametrize("mode", ["reconnect", "close", "drop"])
async def test_forced_reconnect_is_survived(fake: FakeDiscord, bot: Bot, mode: str) -> None:
    await fake.force_reconnect(mode)  # type: ignore[arg-type]

    first, *_, last = fake.gateway_connections
    assert (first.kind, last.kind, last.path) == ("identify", "resume", "/gateway-resume")
    assert last.received[-1]["op"] in (1, 6)
    interaction_id = await fake.send_slash("ask", {"question": "still there?"})
    edit = await fake.wait_for(is_("PATCH", WEBHOOK))
    assert edit.status == 200
    assert fake.interactions[interaction_id].callback_type == 5


async def test_events_during_an_outage_are_replayed_on_resume(fake: FakeDiscord, bot: Bot) -> None:
    reconnect = asyncio.create_task(fake.force_reconnect("drop"))
    await asyncio.sleep(0)  # the TCP connection is now aborted; the client hasn't resumed yet
    message_id = await fake.send_message(f"<@{F.BOT_USER_ID}> are you back?")
    await asyncio.wait_for(reconnect, 5.0)

    await asyncio.wait_for(_until(lambda: any(m.id == message_id for m in bot.seen)), 5.0)
    assert fake.gateway_connections[-1].kind == "resume"


async def test_invalid_session_makes_the_client_identify_again(
    fake: FakeDiscord, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_identify_pause(shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py sleeps 5 s before every non-initial IDENTIFY

    monkeypatch.setattr(bot, "before_identify_hook", no_identify_pause)
    await fake.invalidate_session(resumable=False)
    await asyncio.wait_for(_until(lambda: fake.gateway_connections[-1].kind == "identify"), 5)
    await fake.send_slash("ask", {"question": "new session?"})
    assert (await fake.wait_for(is_("PATCH", WEBHOOK))).status == 200


async def test_late_and_repeated_callbacks_get_discord_errors(fake: FakeDiscord, bot: Bot) -> None:
    fake.interaction_deadline = 0.05  # the real window is 3 s; /slow sleeps 0.15 s
    await fake.send_slash("slow")
    await asyncio.wait_for(_until(lambda: bool(bot.errors)), 5.0)
    (error,) = bot.errors
    assert isinstance(error, discord.NotFound) and error.code == 10062

    fake.interaction_deadline = 3.0
    interaction_id = await fake.send_slash("ask", {"question": "twice?"})
    await fake.wait_for(is_("PATCH", WEBHOOK))
    token = fake.interactions[interaction_id].token
    url = f"{fake.api_url}/interactions/{interaction_id}/{token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json={"type": 5}) as resp:
        assert resp.status == 400
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["code"] == 40060


async def test_default_member_permissions_gate_slash_commands(fake: FakeDiscord, bot: Bot) -> None:
    with pytest.raises(PermissionError):
        await fake.send_slash("purge", user_id=F.USER_ID)
    interaction_id = await fake.send_slash("purge", user_id=F.MOD_USER_ID)
    callback = await fake.wait_for(is_("POST", f"/interactions/{interaction_id}/"))
    assert callback.json["type"] == 4
    assert callback.json["data"]["content"] == "purged" and callback.json["data"]["flags"] == 64
    assert callback.response["resource"]["message"]["flags"] == 64
    assert not [m for m in bot.seen if m.content == "purged"]  # ephemeral: never dispatched
    with pytest.raises(ValueError, match="missing required option"):
        await fake.send_slash("ask")


async def test_privileged_intent_not_enabled_in_the_portal_closes_with_4014() -> None:
    fake = FakeDiscord(privileged_intents=0)
    await fake.start()
    try:
        client = discord.Client(intents=discord.Intents.default() | discord.Intents(members=True))
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with fake.run_client(client, ready_timeout=5.0):
                pass
        assert fake.gateway_connections[0].close_code == 4014
    finally:
        await fake.stop()


async def test_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with fake.patch_discord(), pytest.raises(discord.LoginFailure):
        try:
            await client.login("not-the-token")
        finally:
            await client.close()
    assert fake.requests[0].status == 401


async def _until(check: Callable[[], bool]) -> None:
    """Poll a condition on the event loop (bounded by the caller's wait_for)."""
    while not check():
        await asyncio.sleep(0.01)
