"""The Discord adapter end to end: the real discord.py client against FakeDiscord, the real
router and intelligence layer, and FakeLLM where an answer needs an LLM."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fakes.discord import EPHEMERAL, FakeDiscord, RecordedRequest
from fakes.llm import FakeLLM

import bot.discord
from bot.adapters import run_adapters
from bot.app import App, build_app, secrets_of
from bot.console import run_console
from bot.discord.adapter import DiscordAdapter
from commands.definition import Command, Context
from commands.router import Router
from commands.types import ChatMessage, Reply, Role
from config.settings import Settings
from intelligence.safety import Sanitiser

F = FakeDiscord
WEBHOOK = f"/webhooks/{F.APPLICATION_ID}/"
CHANNEL_MESSAGES = f"/channels/{F.CHANNEL_ID}/messages"
MANAGE_MESSAGES = "8192"

pytestmark = pytest.mark.usefixtures("isolated_env")

# Discord's pace four times faster, so that a streamed answer takes a fraction of a second:
# an edit at most every EDIT_INTERVAL (1 s in production), a deferral after DEFER_AFTER (1 s).
EDIT_INTERVAL = 0.25
DEFER_AFTER = 0.25
FAST = {"edit_interval": EDIT_INTERVAL, "defer_after": DEFER_AFTER}
# About 2.5 edit intervals of streaming at TOKEN_DELAY: long enough to need several edits.
SLOW_ANSWER = " ".join(f"word{i}" for i in range(60)) + "."
TOKEN_DELAY = 0.12 * EDIT_INTERVAL


# ---------------------------------------------------------------------- harness


def settings_for(tmp_path, llm_url: str | None = None, **overrides: Any) -> Settings:
    llm = (
        {"provider": "lmstudio", "base_url": llm_url, "timeout_s": 10, "max_tokens": 4000}
        if llm_url
        else {"provider": "offline"}
    )
    sections: dict[str, Any] = {
        "bot": {"data_dir": tmp_path / "data", "language": "en"},
        "llm": llm,
        # Long answers here test Discord's splitting, not the cap on a chat answer.
        "limits": {"user_cooldown_s": 0, "user_rate_per_min": 0, "max_answer_chars": 10_000},
        "discord": {"enabled": True, "token": F.TOKEN, "guild_ids": [F.GUILD_ID]},
    }
    for section, values in overrides.items():
        sections[section] = sections.get(section, {}) | values
    return Settings(**sections)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()
    assert server.unhandled == [], "the adapter called routes the fake does not implement"
    assert server.internal_errors == []


@pytest.fixture
async def make_app(clock) -> AsyncIterator[Callable[[Settings], App]]:
    apps: list[App] = []

    async def make(settings: Settings) -> App:
        apps.append(build_app(settings, clock=clock))
        await apps[-1].start()
        return apps[-1]

    yield make
    for app in apps:
        await app.aclose()


@contextlib.asynccontextmanager
async def connected(fake: FakeDiscord, app: App, **timing: float) -> AsyncIterator[DiscordAdapter]:
    """The adapter's run() as the supervisor would run it, until the client is ready.
    ``timing``: the adapter's ``edit_interval`` or ``defer_after`` (see FAST)."""
    adapter = DiscordAdapter(app, guild_ready_timeout=0.05, retry_delays=(0.05,), **timing)
    with fake.patch_discord():
        task = asyncio.create_task(adapter.run())
        try:
            await until(lambda: adapter.status() == "up" or task.done())
            yield adapter
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class RouterSpy:
    """Records what reaches the router, then lets the real router answer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, router: Router) -> None:
        self.messages: list[ChatMessage] = []
        self.replies: list[Reply | None] = []
        self.hidden: list[tuple[str, ChatMessage, str]] = []
        handle, dispatch = router.handle, router.dispatch

        async def spy_handle(message: ChatMessage) -> Reply | None:
            self.messages.append(message)
            reply = await handle(message)
            self.replies.append(reply)
            return reply

        async def spy_hidden(name: str, message: ChatMessage, args: str) -> Reply | None:
            self.hidden.append((name, message, args))
            return await dispatch(name, message, args)

        monkeypatch.setattr(router, "handle", spy_handle)
        monkeypatch.setattr(router, "dispatch", spy_hidden)

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def answer_messages(fake: FakeDiscord, interaction_id: int) -> list[dict]:
    """The interaction's response and follow-ups, oldest first."""
    record = fake.interactions[interaction_id]
    ids = [record.original_message_id, *record.followup_ids]
    return [fake.messages[i] for i in ids if i in fake.messages]


def contents(fake: FakeDiscord, interaction_id: int) -> list[str]:
    return [m["content"] for m in answer_messages(fake, interaction_id)]


def callback_of(fake: FakeDiscord, interaction_id: int) -> RecordedRequest:
    return fake.requests_to("POST", f"/interactions/{interaction_id}/")[0]


def edits_of(fake: FakeDiscord, interaction_id: int) -> list[RecordedRequest]:
    token = fake.interactions[interaction_id].token
    return fake.requests_to("PATCH", f"{WEBHOOK}{token}/")


def bodies_sent(fake: FakeDiscord) -> list[dict]:
    """Every message body the bot sent or edited (interaction callbacks included)."""
    bodies = []
    for r in fake.requests:
        if r.method not in ("POST", "PATCH") or not isinstance(r.json, dict):
            continue
        body = r.json.get("data") if r.path.endswith("/callback") else r.json
        if isinstance(body, dict) and "content" in body:
            bodies.append(body)
    return bodies


def assert_edits_at_most_one_per_interval(edits: list[RecordedRequest]) -> None:
    """The rate rule itself: successive accepted edits of an answer are ≥ EDIT_INTERVAL apart."""
    times = [r.time for r in edits if r.status == 200]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.99 * EDIT_INTERVAL for gap in gaps), gaps


def sanitised(text: str, settings: Settings) -> str:
    return Sanitiser(secrets_of(settings)).clean(text).strip()


# ---------------------------------------------------------------------- slash commands


async def test_slash_commands_are_synced_to_the_configured_guild(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path, limits={"max_prompt_chars": 300}))
    async with connected(fake, app) as adapter:
        assert adapter.status() == "up"
    synced = {c["name"]: c for c in fake.synced_commands[F.GUILD_ID]}
    assert set(synced) == {
        "joke",
        "ask",
        "absurd",
        "vote",
        "topjokes",
        "cachestats",
        "jokestats",
        "cacheclear",
        "banphrase",
    }
    assert None not in fake.synced_commands  # guild sync only: instant, no global copy
    (question,) = synced["ask"]["options"]
    assert (question["name"], question["required"], question["max_length"]) == (
        "question",
        True,
        300,  # limits.max_prompt_chars: Discord's client refuses longer questions
    )
    vote = {o["name"]: o for o in synced["vote"]["options"]}
    assert [c["value"] for c in vote["vote"]["choices"]] == ["+1", "-1"]
    assert vote["joke"]["required"] is False
    for name in ("cachestats", "jokestats", "cacheclear", "banphrase"):
        assert synced[name]["default_member_permissions"] == MANAGE_MESSAGES
    assert synced["joke"]["default_member_permissions"] is None


async def test_without_guild_ids_commands_are_synced_globally(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path, discord={"guild_ids": []}))
    async with connected(fake, app):
        interaction_id = await fake.send_slash("joke")  # a global command works in the guild
        await until(lambda: answer_messages(fake, interaction_id))
    assert {c["name"] for c in fake.synced_commands[None]} >= {"joke", "ask", "cachestats"}
    assert F.GUILD_ID not in fake.synced_commands
    assert callback_of(fake, interaction_id).json["type"] == 4


async def test_joke_answers_at_once_with_a_joke(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path))
    async with connected(fake, app):
        interaction_id = await fake.send_slash("joke")
        callback = await fake.wait_for(
            lambda r: r.path.startswith(f"/interactions/{interaction_id}/")
        )
    assert callback.status == 200
    assert callback.json["type"] == 4  # a joke is instant: no deferral
    data = callback.json["data"]
    assert len(data["content"]) > 10 and not data.get("flags")
    assert data["allowed_mentions"] == {"parse": []}
    assert contents(fake, interaction_id) == [data["content"]]


async def test_ask_defers_then_streams_with_at_most_one_edit_per_second(fake, make_app, tmp_path):
    async with FakeLLM(flavour="lmstudio", token_delay_s=TOKEN_DELAY, reply=SLOW_ANSWER) as llm:
        settings = settings_for(tmp_path, llm.base_url)
        app = await make_app(settings)
        async with connected(fake, app, **FAST):
            interaction_id = await fake.send_slash("ask", {"question": "count for me"})
            expected = sanitised(SLOW_ANSWER, settings)
            await until(lambda: contents(fake, interaction_id) == [expected], 10)

    token = fake.interactions[interaction_id].token
    calls = [
        r
        for r in fake.requests
        if r.path.startswith((f"/interactions/{interaction_id}/", f"{WEBHOOK}{token}"))
    ]
    assert calls[0].json == {"type": 5}  # deferred before anything else
    assert calls[1].method == "POST" and calls[1].path == f"{WEBHOOK}{token}"
    assert calls[1].json["content"] != expected  # the first piece, not the whole answer
    edits = edits_of(fake, interaction_id)
    assert len(edits) >= 2, "the answer should grow in several edits"
    assert_edits_at_most_one_per_interval(edits)
    assert edits[-1].json["content"] == expected
    assert all(e.json["allowed_mentions"] == {"parse": []} for e in edits)


async def test_a_command_slower_than_a_second_is_deferred_and_a_mention_shows_typing(
    fake, make_app, tmp_path
):
    latency = 1.5 * DEFER_AFTER
    async with FakeLLM(flavour="lmstudio", latency_s=latency, reply="A pigeon files taxes.") as llm:
        app = await make_app(settings_for(tmp_path, llm.base_url))
        async with connected(fake, app, **FAST):
            interaction_id = await fake.send_slash("absurd")
            await fake.send_message(f"<@{F.BOT_USER_ID}> tell me something")
            await until(lambda: contents(fake, interaction_id) == ["A pigeon files taxes."], 10)
            await fake.wait_for(lambda r: r.path == CHANNEL_MESSAGES, 10)

    assert callback_of(fake, interaction_id).json["type"] == 5  # deferred, not dropped
    typing, answer = [
        r.path for r in fake.requests if r.path.startswith(f"/channels/{F.CHANNEL_ID}/")
    ]
    assert typing == f"/channels/{F.CHANNEL_ID}/typing" and answer == CHANNEL_MESSAGES


async def test_a_long_answer_continues_in_follow_ups_without_breaking_its_code_block(
    fake, make_app, tmp_path
):
    prose = "Here is how it works. " * 70  # ~1540 chars before the code
    code = "```python\n" + "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(30)) + "```"
    outro = "\n\n" + "And that is the whole story, told at length. " * 50
    answer = prose + "\n\n" + code + outro
    assert 4400 <= len(answer) <= 4700 and len(code) < 2000
    async with FakeLLM(
        flavour="lmstudio", token_delay_s=0.02, chunk_chars=250, reply=answer
    ) as llm:
        settings = settings_for(tmp_path, llm.base_url)
        app = await make_app(settings)
        async with connected(fake, app, **FAST):
            interaction_id = await fake.send_slash("ask", {"question": "tell me everything"})
            expected = sanitised(answer, settings)

            def whole() -> bool:
                parts = contents(fake, interaction_id)
                return "".join(parts).replace(" ", "").replace("\n", "") == re.sub(
                    r"\s", "", expected
                )

            await until(whole, 15)

    parts = contents(fake, interaction_id)
    assert len(parts) == 3
    assert all(0 < len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)
    assert [p for p in parts if "```" in p] == [parts[1]]
    assert sanitised(code, settings) in parts[1]  # the block moved whole to the next message
    assert_edits_at_most_one_per_interval(edits_of(fake, interaction_id))
    rejected = [r for r in fake.requests if r.status == 400]
    assert rejected == []  # never a 50035 for an over-long message


async def test_everyone_in_an_llm_answer_pings_nobody(fake, make_app, tmp_path):
    loud = "Hey @everyone and @here, ask <@1100000000000000021> or <@&1100000000000000041>!"
    async with FakeLLM(flavour="lmstudio", reply=loud) as llm:
        settings = settings_for(tmp_path, llm.base_url)
        app = await make_app(settings)
        async with connected(fake, app):
            interaction_id = await fake.send_slash("ask", {"question": "shout"})
            await until(lambda: contents(fake, interaction_id) == [sanitised(loud, settings)])

    (message,) = answer_messages(fake, interaction_id)
    assert "@everyone" not in message["content"] and "@here" not in message["content"]
    assert "<@" not in message["content"]
    assert not message["mention_everyone"] and message["mentions"] == []
    assert message["mention_roles"] == []
    bodies = bodies_sent(fake)
    assert bodies and all(b["allowed_mentions"]["parse"] == [] for b in bodies)


async def test_moderator_commands_refuse_politely_and_privately(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path))
    async with connected(fake, app):
        with pytest.raises(PermissionError):  # the default_permissions hint hides it
            await fake.send_slash("cachestats", user_id=F.USER_ID)
        # A server admin granted the command to everyone: the bot still says no.
        fake.allow_command("cachestats", F.USER_ID)
        refused = await fake.send_slash("cachestats", user_id=F.USER_ID)
        mod = await fake.send_slash("cachestats", user_id=F.MOD_USER_ID)
        owner = await fake.send_slash("cacheclear", as_owner=True)
        for interaction_id in (refused, mod, owner):
            await until(lambda i=interaction_id: answer_messages(fake, i))

    refusal = callback_of(fake, refused).json
    assert refusal["type"] == 4 and refusal["data"]["flags"] == EPHEMERAL
    assert refusal["data"]["content"].startswith("🔒 Sorry, /cachestats is for moderators")
    stats = callback_of(fake, mod).json["data"]
    assert stats["content"].startswith("📊") and stats["flags"] == EPHEMERAL
    cleared = callback_of(fake, owner).json["data"]
    assert cleared["content"].startswith("🧹") and cleared["flags"] == EPHEMERAL


async def test_discord_roles_map_to_the_neutral_roles(fake, make_app, tmp_path, monkeypatch):
    app = await make_app(settings_for(tmp_path))
    spy = RouterSpy(monkeypatch, app.router)
    async with connected(fake, app):
        for user_id in (F.USER_ID, F.MOD_USER_ID, F.OWNER_ID):
            await fake.send_slash("joke", user_id=user_id)
        await until(lambda: len(spy.messages) == 3)
    levels = {m.user_id: m.level for m in spy.messages}
    assert levels == {
        str(F.USER_ID): Role.VIEWER,
        str(F.MOD_USER_ID): Role.MODERATOR,
        str(F.OWNER_ID): Role.BROADCASTER,
    }
    assert {m.platform for m in spy.messages} == {"discord"}
    assert {m.text for m in spy.messages} == {"!joke "}


async def test_a_command_the_router_lacks_is_politely_unavailable_until_it_exists(
    fake, make_app, tmp_path
):
    app = await make_app(settings_for(tmp_path))
    settings = app.settings
    app.router = Router(  # a router without absurd/vote yet, as in an older build
        prefix="!", language="en", limits=settings.limits, stats=app.stats, clock=lambda: 0.0
    )
    seen: list[str] = []

    async def absurd(ctx: Context) -> Reply:
        return Reply("🦄 A unicorn runs for mayor.")

    async def vote(ctx: Context) -> Reply:
        seen.append(ctx.args)
        return Reply("🗳️ counted")

    async with connected(fake, app):
        missing = await fake.send_slash("absurd")
        await until(lambda: answer_messages(fake, missing))
        app.router.register([Command("absurd", absurd), Command("vote", vote, cooldown_s=0)])
        present = await fake.send_slash("absurd")
        voted = await fake.send_slash("vote", {"vote": "-1", "joke": "#0123456789ab"})
        await until(lambda: answer_messages(fake, present) and answer_messages(fake, voted))

    unavailable = callback_of(fake, missing).json["data"]
    assert unavailable == unavailable | {
        "content": "🚧 Sorry, /absurd is not available yet.",
        "flags": EPHEMERAL,
    }
    assert contents(fake, present) == ["🦄 A unicorn runs for mayor."]
    assert seen == ["-1 #0123456789ab"]


async def test_a_user_over_the_rate_limit_is_told_privately(fake, make_app, tmp_path):
    async with FakeLLM(flavour="lmstudio", reply="Forty-two.") as llm:
        app = await make_app(settings_for(tmp_path, llm.base_url, limits={"user_rate_per_min": 1}))
        async with connected(fake, app):
            first = await fake.send_slash("joke")
            await until(lambda: answer_messages(fake, first))
            silenced_joke = await fake.send_slash("joke")
            silenced_ask = await fake.send_slash("ask", {"question": "life?"})
            await until(
                lambda: answer_messages(fake, silenced_joke) and answer_messages(fake, silenced_ask)
            )

    joke = callback_of(fake, silenced_joke).json
    assert joke["type"] == 4 and joke["data"]["flags"] == EPHEMERAL
    assert joke["data"]["content"] == "⏳ Not right now, try again in a moment."
    # /ask had deferred publicly: its "thinking…" is removed and the notice sent privately.
    (notice,) = answer_messages(fake, silenced_ask)
    assert notice["content"] == "⏳ Not right now, try again in a moment."
    assert notice["flags"] & EPHEMERAL
    assert fake.interactions[silenced_ask].original_message_id not in fake.messages


# ---------------------------------------------------------------------- channels and mentions


async def test_prefix_commands_work_in_channels_and_plain_chat_is_ignored(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path))
    async with connected(fake, app):
        await fake.send_message("just chatting, no command")
        await fake.send_message("!nosuchcommand")
        asked = await fake.send_message("!ping")
        reply = await fake.wait_for(lambda r: r.method == "POST" and r.path == CHANNEL_MESSAGES)
    assert reply.json["content"] == "🏓 Pong!"
    assert reply.json["message_reference"]["message_id"] == asked
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert len(fake.requests_to("POST", CHANNEL_MESSAGES)) == 1


async def test_a_mention_is_answered_like_ask_and_replies_continue_the_conversation(
    fake, make_app, tmp_path, monkeypatch
):
    async with FakeLLM(flavour="lmstudio", reply="The sky scatters blue light.") as llm:
        settings = settings_for(tmp_path, llm.base_url)
        app = await make_app(settings)
        spy = RouterSpy(monkeypatch, app.router)
        async with connected(fake, app):
            question = await fake.send_message(f"<@{F.BOT_USER_ID}> why is the sky blue?")
            first = await fake.wait_for(lambda r: r.path == CHANNEL_MESSAGES and r.status == 200)
            answer_id = int(first.response["id"])
            await until(lambda: fake.messages[answer_id]["content"].endswith("light."))
            # A reply to the bot's answer, ping kept: a follow-up in the same conversation.
            follow_up = await fake.send_message("and at night?", reply_to=answer_id)
            await until(lambda: len(fake.requests_to("POST", CHANNEL_MESSAGES)) == 2)

    (first_turn, second_turn) = spy.hidden
    assert first_turn[0] == "mention" and first_turn[2] == "why is the sky blue?"
    assert second_turn[2] == "and at night?"
    # One conversation, named after the chain's first message...
    assert first_turn[1].conversation_id == second_turn[1].conversation_id == str(question)
    assert fake.messages[answer_id]["content"] == "The sky scatters blue light."
    second = fake.requests_to("POST", CHANNEL_MESSAGES)[1]
    assert second.json["message_reference"]["message_id"] == follow_up
    # ...so the follow-up reached the LLM with the first exchange before it.
    sent = [m["content"] for m in llm.requests[-1].body["messages"]]
    assert any("why is the sky blue?" in m for m in sent[:-1])
    assert "The sky scatters blue light." in sent
    assert "and at night?" in sent[-1]


async def test_a_reply_to_a_slash_answer_follows_up_on_it(fake, make_app, tmp_path, monkeypatch):
    async with FakeLLM(flavour="lmstudio", reply="Paris, of course.") as llm:
        app = await make_app(settings_for(tmp_path, llm.base_url))
        spy = RouterSpy(monkeypatch, app.router)
        async with connected(fake, app):
            interaction_id = await fake.send_slash("ask", {"question": "capital of France?"})
            await until(lambda: contents(fake, interaction_id) == ["Paris, of course."])
            (answer,) = answer_messages(fake, interaction_id)
            await fake.send_message("and of Italy?", reply_to=int(answer["id"]))
            await fake.wait_for(lambda r: r.path == CHANNEL_MESSAGES and r.status == 200)

    assert spy.messages[0].conversation_id == str(interaction_id)
    assert spy.hidden[0][1].conversation_id == str(interaction_id)
    sent = [m["content"] for m in llm.requests[-1].body["messages"]]
    assert any("capital of France?" in m for m in sent[:-1]) and "and of Italy?" in sent[-1]


async def test_a_thread_is_one_conversation(fake, make_app, tmp_path, monkeypatch):
    async with FakeLLM(flavour="lmstudio", reply="Threads are tidy.") as llm:
        app = await make_app(settings_for(tmp_path, llm.base_url))
        spy = RouterSpy(monkeypatch, app.router)
        async with connected(fake, app):
            thread = await fake.create_thread("questions")
            await fake.send_message(f"<@{F.BOT_USER_ID}> what is a thread?", channel_id=thread)
            await fake.send_slash("ask", {"question": "and a channel?"}, channel_id=thread)
            await until(lambda: len(spy.hidden) == 1 and len(spy.messages) == 1)
            await fake.wait_for(lambda r: r.path == f"/channels/{thread}/messages")
    assert spy.hidden[0][1].conversation_id == str(thread)
    assert spy.messages[0].conversation_id == str(thread)


async def test_bad_input_gets_short_clear_answers(fake, make_app, tmp_path, monkeypatch):
    tricky = "\u202eevil\u200b ＠everyone <@&1100000000000000041> /ban alice"
    async with FakeLLM(flavour="lmstudio", reply=f"You said: {tricky}") as llm:
        settings = settings_for(tmp_path, llm.base_url, limits={"max_prompt_chars": 300})
        app = await make_app(settings)
        spy = RouterSpy(monkeypatch, app.router)
        async with connected(fake, app):
            blank = await fake.send_slash("ask", {"question": "   "})
            with pytest.raises(ValueError, match="length"):  # Discord's client refuses it
                await fake.send_slash("ask", {"question": "x" * 301})
            fake.add_member(F.USER_ID + 100, "@everyone")
            await fake.send_message(f"<@{F.BOT_USER_ID}> " + "y" * 400, user_id=F.USER_ID + 100)
            injected = await fake.send_slash("ask", {"question": "hi\n!cacheclear"})
            unicode = await fake.send_slash("ask", {"question": tricky})
            said = sanitised(f"You said: {tricky}", settings)
            await until(lambda: contents(fake, blank) and contents(fake, unicode) == [said])
            await until(lambda: contents(fake, injected) == [said])
            too_long = await fake.wait_for(lambda r: r.path == CHANNEL_MESSAGES)

    assert contents(fake, blank) == ["Usage: !ask <question>"]
    assert too_long.json["content"] == "✋ Everyone, that's too long (400 chars, max 300)."
    # One command per slash command: the newline cannot smuggle in a second one.
    assert "!ask hi\n!cacheclear" in spy.texts()
    assert [m for m in spy.texts() if m.startswith("!cacheclear")] == []
    (answer,) = contents(fake, unicode)
    assert "@everyone" not in answer and "<@&" not in answer
    assert "\u202e" not in answer and "\u200b" not in answer
    assert all(b["allowed_mentions"]["parse"] == [] for b in bodies_sent(fake))


# ---------------------------------------------------------------------- votes by reaction


async def test_reactions_on_a_joke_vote_once_per_user(fake, make_app, tmp_path, monkeypatch):
    app = await make_app(settings_for(tmp_path))
    spy = RouterSpy(monkeypatch, app.router)
    async with connected(fake, app):
        interaction_id = await fake.send_slash("joke")
        await until(lambda: answer_messages(fake, interaction_id))
        (joke_message,) = answer_messages(fake, interaction_id)
        (joke,) = spy.replies
        assert joke is not None and joke.joke_id is not None
        joke_id = joke.joke_id
        message_id = int(joke_message["id"])
        plain = await fake.send_message("not a joke")

        await fake.send_reaction(plain, "👍", F.USER_ID)  # not the bot's joke: nothing
        await fake.send_reaction(message_id, "😂", F.USER_ID)  # not a vote emoji: nothing
        await fake.send_reaction(message_id, "👍", F.USER_ID)
        await fake.send_reaction(message_id, "👎", F.USER_ID)  # second vote: ignored
        await fake.send_reaction(message_id, "👍", F.USER_ID, remove=True)
        await fake.send_reaction(message_id, "👍", F.USER_ID)  # again: ignored
        await fake.send_reaction(message_id, "👎", F.MOD_USER_ID)
        await fake.send_reaction(message_id, "👍🏽", F.OWNER_ID)  # skin tones count too
        await until(lambda: len([t for t in spy.texts() if t.startswith("!vote")]) == 3)
        await asyncio.sleep(0.1)  # a stray fourth vote would have arrived by now

    votes = [(m.text, m.user_id, m.level) for m in spy.messages if m.text.startswith("!vote")]
    assert votes == [
        (f"!vote +1 #{joke_id}", str(F.USER_ID), Role.VIEWER),
        (f"!vote -1 #{joke_id}", str(F.MOD_USER_ID), Role.MODERATOR),
        (f"!vote +1 #{joke_id}", str(F.OWNER_ID), Role.BROADCASTER),
    ]
    # The router's !vote counted them: the joke's score is +1 - 1 + 1.
    assert await app.jokes.top(1) == [(joke_message["content"], 1)]
    # Voting is quiet: nothing posted besides the joke itself.
    assert fake.requests_to("POST", CHANNEL_MESSAGES) == []


# ---------------------------------------------------------------------- Discord misbehaving


async def test_a_429_on_an_edit_is_waited_out_and_the_throttle_follows(fake, make_app, tmp_path):
    retry_after = 0.6 * EDIT_INTERVAL
    async with FakeLLM(flavour="lmstudio", token_delay_s=TOKEN_DELAY, reply=SLOW_ANSWER) as llm:
        settings = settings_for(tmp_path, llm.base_url)
        app = await make_app(settings)
        async with connected(fake, app, **FAST):
            fake.rate_limit_next("PATCH", WEBHOOK, retry_after=retry_after)
            interaction_id = await fake.send_slash("ask", {"question": "count again"})
            expected = sanitised(SLOW_ANSWER, settings)
            await until(lambda: contents(fake, interaction_id) == [expected], 10)

    edits = edits_of(fake, interaction_id)
    assert [e.status for e in edits[:2]] == [429, 200]
    assert edits[1].time - edits[0].time >= retry_after  # discord.py honoured retry_after
    assert_edits_at_most_one_per_interval(edits)
    assert edits[-1].json["content"] == expected


async def test_an_expired_interaction_is_logged_and_the_bot_carries_on(
    fake, make_app, tmp_path, caplog
):
    app = await make_app(settings_for(tmp_path))
    caplog.set_level(logging.WARNING, logger="bot.discord.adapter")
    async with connected(fake, app) as adapter:
        fake.interaction_deadline = -1.0  # every callback is already too late: 10062
        late = await fake.send_slash("joke")
        await fake.wait_for(lambda r: r.path.startswith(f"/interactions/{late}/"))
        await until(lambda: "10062" in caplog.text)
        fake.interaction_deadline = 3.0
        on_time = await fake.send_slash("joke")
        await until(lambda: answer_messages(fake, on_time))
        assert adapter.status() == "up"
    assert callback_of(fake, late).status == 404
    assert callback_of(fake, late).response["code"] == 10062
    assert "/joke expired before it was answered (10062)" in caplog.text
    assert "Traceback" not in caplog.text and "failed" not in caplog.text


async def test_a_lost_gateway_is_resumed(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path))
    async with connected(fake, app) as adapter:
        await fake.force_reconnect("drop")
        await until(lambda: adapter.status() == "up")
        interaction_id = await fake.send_slash("joke")
        await until(lambda: answer_messages(fake, interaction_id))
    assert [c.kind for c in fake.gateway_connections] == ["identify", "resume"]


async def test_message_content_intent_off_falls_back_to_mentions_and_slash(
    make_app, tmp_path, caplog
):
    fake = FakeDiscord(privileged_intents=0)
    await fake.start()
    caplog.set_level(logging.WARNING, logger="bot.discord.adapter")
    try:
        app = await make_app(settings_for(tmp_path))
        async with connected(fake, app) as adapter:
            assert adapter.status() == "up"
            await fake.send_message("!ping")  # its content never reaches the bot
            mention = await fake.send_message(f"<@{F.BOT_USER_ID}> !ping")
            reply = await fake.wait_for(lambda r: r.path == CHANNEL_MESSAGES)
    finally:
        await fake.stop()
    assert fake.gateway_connections[0].close_code == 4014
    assert reply.json["message_reference"]["message_id"] == mention
    assert reply.json["content"] == "🏓 Pong!"
    assert len(fake.requests_to("POST", CHANNEL_MESSAGES)) == 1
    assert "Message Content intent is off" in caplog.text


async def test_discord_down_leaves_the_rest_of_the_app_running(make_app, tmp_path, monkeypatch):
    fake = FakeDiscord()
    await fake.start()
    port = fake.port
    await fake.stop()  # Discord is unreachable from the start
    app = await make_app(settings_for(tmp_path))
    monkeypatch.setattr(
        bot.discord,
        "create",
        lambda app: DiscordAdapter(app, guild_ready_timeout=0.05, retry_delays=(0.2,)),
    )
    with fake.patch_discord():
        supervisor = asyncio.create_task(run_adapters(app, ["discord"]))
        try:
            await until(lambda: "discord" in app.adapters)
            adapter = app.adapters["discord"]
            await until(lambda: adapter.status().startswith("down: "))
            # Meanwhile the rest of the app answers, here through the console adapter.
            out = io.StringIO()
            await run_console(app, stdin=io.StringIO("alice: !ping\n"), stdout=out)
            assert out.getvalue() == "bot: 🏓 Pong!\n"
            assert not supervisor.done()

            await fake.start(port=port)  # Discord is back
            await until(lambda: adapter.status() == "up", 10)
            interaction_id = await fake.send_slash("joke")
            await until(lambda: answer_messages(fake, interaction_id))
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
            await fake.stop()
    assert fake.unhandled == [] and fake.internal_errors == []


async def test_a_streamed_answer_the_gate_stops_is_replaced_by_a_neutral_line(
    fake, make_app, tmp_path
):
    clean = " ".join(f"word{i}" for i in range(40))  # shown while the rest arrives
    answer = f"{clean} and now go kill yourself, honestly."
    async with FakeLLM(flavour="lmstudio", token_delay_s=0.02, reply=answer) as llm:
        app = await make_app(settings_for(tmp_path, llm.base_url))
        async with connected(fake, app, **FAST):
            interaction_id = await fake.send_slash("ask", {"question": "count for me"})
            neutral = "🤐 I'd rather not answer that."
            await until(lambda: contents(fake, interaction_id) == [neutral], 10)
    shown = [e.json["content"] for e in edits_of(fake, interaction_id)]
    shown.append(fake.requests_to("POST", f"{WEBHOOK}")[0].json["content"])
    assert all("kill" not in text for text in shown)  # never shown, not even for a moment
    assert any(text.startswith("word0 word1") for text in shown)  # the clean part streamed
    assert app.stats.blocked[("reply", "banphrase")] == 1
