"""The gate: banphrases, then a moderation model (Mistral's and OpenAI's answers, down, slow or
garbled), cached verdicts, recorded blocks, streams held a few words behind; and the channel's
own banphrases, committed to SQLite and shared by instances through Redis."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
from fakes.moderation import FakeModeration

from config.settings import ModerationSettings
from intelligence.moderation import Banlist, Gate, Layer, ModerationModel, Stage, Verdict, Where
from intelligence.redis_tier import RedisTier
from intelligence.stats import Stats
from intelligence.store import Store


@pytest.fixture
async def store(tmp_path):
    store = Store(tmp_path / "q.db")
    await store.open()
    yield store
    await store.aclose()


async def make_gate(store, model=None, *, when_down="block", clock=None, cache_s=3600) -> Gate:
    banlist = Banlist(store, None)
    await banlist.start()
    kwargs = {"clock": clock} if clock else {}
    return Gate(
        banlist=banlist,
        model=model,
        stats=Stats(),
        store=store,
        block_when_down=when_down == "block",
        cache_s=cache_s,
        **kwargs,
    )


def model_for(fake: FakeModeration, **settings) -> ModerationModel:
    return ModerationModel(
        ModerationSettings(provider=fake.flavour, base_url=fake.base_url, **settings)
    )


async def pieces(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def test_a_banphrase_blocks_and_the_block_is_recorded(store):
    gate = await make_gate(store)
    assert await gate.check("Paris is the capital.") is None
    where = Where("twitch", "chan", "7")
    verdict = await gate.screen("Va te faire f0utre.", Stage.REPLY, lambda: where)
    assert verdict == Verdict(Layer.BANPHRASE, "va te faire foutre")
    assert gate.stats.blocked == {("reply", "banphrase"): 1}
    await store.flush()
    [row] = await store.fetch(
        "SELECT platform, channel, user_id, stage, layer, reason, text FROM blocked"
    )
    assert tuple(row) == (
        "twitch", "chan", "7", "reply", "banphrase", "va te faire foutre", "Va te faire f0utre.",
    )  # fmt: skip
    await gate.banlist.aclose()


@pytest.mark.parametrize("flavour", ["mistral", "openai"])
async def test_the_model_blocks_what_words_cannot_see(store, flavour):
    async with FakeModeration(flavour, judge=lambda t: {"pii"} if "Maple" in t else set()) as fake:
        gate = await make_gate(store, model_for(fake))
        assert await gate.check("She lives on Maple Street, go say hi.") == Verdict(
            Layer.MODEL, "pii" if flavour == "mistral" else "flagged"
        )
        assert await gate.check("Paris is the capital.") is None
        assert await gate.check("fuck") == Verdict(Layer.BANPHRASE, "fuck")  # words first
        assert "fuck" not in fake.inputs  # ...so the model was not asked
        await gate.model.aclose()


async def test_configured_categories_are_the_only_ones_that_block(store):
    judge = lambda text: {"health"} if "doctor" in text else {"selfharm"}  # noqa: E731
    async with FakeModeration("mistral", judge=judge) as fake:
        gate = await make_gate(store, model_for(fake, categories=["selfharm", "sexual"]))
        assert await gate.check("Ask your doctor about it.") is None
        assert await gate.check("You know what to do.") == Verdict(Layer.MODEL, "selfharm")
        await gate.model.aclose()


async def test_verdicts_are_cached_and_a_new_banphrase_is_seen_at_once(store, clock):
    async with FakeModeration("mistral") as fake:
        gate = await make_gate(store, model_for(fake), clock=clock, cache_s=60)
        for _ in range(3):
            assert await gate.check("The quokka is a marsupial.") is None
        assert fake.inputs == ["The quokka is a marsupial."]  # one call, then the cache
        clock.advance(61)
        await gate.check("The quokka is a marsupial.")
        assert len(fake.inputs) == 2  # the verdict expired
        assert await gate.banlist.add("quokka", by="twitch:1")
        assert await gate.check("The quokka is a marsupial.") == Verdict(Layer.BANPHRASE, "quokka")
        await gate.model.aclose()
        await gate.banlist.aclose()


@pytest.mark.parametrize("when_down", ["block", "allow"])
async def test_a_model_that_cannot_be_reached_follows_the_policy(store, when_down):
    async with FakeModeration("openai") as fake:
        model = model_for(fake, timeout_s=0.5)
    gate = await make_gate(store, model, when_down=when_down)  # nothing listens any more
    verdict = await gate.check("A harmless answer.")
    assert verdict == (
        Verdict(Layer.MODEL_DOWN, f"{model.url}: ClientConnectorError")
        if when_down == "block"
        else None
    )
    assert gate.stats.moderation_errors == 1
    await model.aclose()


@pytest.mark.parametrize("when_down", ["block", "allow"])
@pytest.mark.parametrize("fault", ["status", "slow", "garbled"])
async def test_a_model_that_fails_follows_the_policy(store, when_down, fault):
    async with FakeModeration("openai") as fake:
        fake.status = 503 if fault == "status" else 200
        fake.latency_s = 1.0 if fault == "slow" else 0.0
        fake.garbled = fault == "garbled"
        gate = await make_gate(store, model_for(fake, timeout_s=0.2), when_down=when_down)
        verdict = await gate.check("A harmless answer.")
        assert (verdict is not None) == (when_down == "block")
        assert verdict is None or verdict.layer is Layer.MODEL_DOWN
        assert gate.stats.moderation_errors == 1
        fake.status, fake.latency_s, fake.garbled = 200, 0.0, False
        assert await gate.check("A harmless answer.") is None  # no verdict was cached
        await gate.model.aclose()


async def test_a_stream_is_held_a_few_words_behind_and_stopped_before_a_banphrase(store):
    gate = await make_gate(store)
    stopped: list[Verdict] = []
    shown = []
    words = ["The ", "answer ", "is ", "simple: ", "go ", "kill ", "your", "self ", "now."]
    async for piece in gate.screen_stream(pieces(*words), Stage.REPLY, stopped.append):
        shown.append(piece)
    assert stopped == [Verdict(Layer.BANPHRASE, "go kill yourself")]
    assert "kill" not in "".join(shown)  # not even part of it was shown
    assert "".join(shown).startswith("The answer")

    stopped.clear()
    clean = ["Paris ", "is ", "the ", "capital ", "of ", "France."]
    shown = [p async for p in gate.screen_stream(pieces(*clean), Stage.REPLY, stopped.append)]
    assert "".join(shown) == "Paris is the capital of France." and len(shown) > 1
    assert stopped == []


async def test_with_a_model_a_stream_is_checked_whole_before_it_is_shown(store):
    async with FakeModeration(
        "mistral", judge=lambda t: {"pii"} if "Maple" in t else set()
    ) as fake:
        gate = await make_gate(store, model_for(fake))
        stopped: list[Verdict] = []
        text = ["She ", "lives ", "on ", "Maple ", "Street."]
        shown = [p async for p in gate.screen_stream(pieces(*text), Stage.REPLY, stopped.append)]
        assert shown == [] and stopped == [Verdict(Layer.MODEL, "pii")]
        await gate.model.aclose()


async def test_the_channel_list_is_committed_and_survives_a_restart(tmp_path):
    store = Store(tmp_path / "q.db")
    await store.open()
    banlist = Banlist(store, None)
    await banlist.start()
    assert await banlist.add("  Quokka   Quest ", by="twitch:42")
    assert not await banlist.add("QUOKKA quest", by="twitch:42")  # the same phrase
    assert not await banlist.add("connard", by="twitch:42")  # banned by default already
    with sqlite3.connect(tmp_path / "q.db") as db:  # committed before add() returned
        assert db.execute("SELECT phrase, added_by FROM banphrases").fetchall() == [
            ("Quokka Quest", "twitch:42")
        ]
    assert banlist.find("la QU0KKA quest !") == "Quokka Quest"
    await store.aclose()

    store = Store(tmp_path / "q.db")
    await store.open()
    again = Banlist(store, None)
    await again.start()
    assert again.find("quokka quest") == "Quokka Quest"
    assert await again.remove("quokka QUEST") == "Quokka Quest"
    assert again.find("quokka quest") is None and await again.remove("nope") is None
    await store.aclose()


async def test_instances_sharing_redis_share_the_channel_list(tmp_path, redis_server):
    stores, lists = [], []
    for name in ("a", "b"):
        store = Store(tmp_path / f"{name}.db")
        await store.open()
        banlist = Banlist(store, RedisTier(redis_server.url), sync_s=0.05)
        await banlist.start()
        stores.append(store)
        lists.append(banlist)
    first, second = lists
    try:
        await first.add("wombat", by="twitch:1")
        async with asyncio.timeout(10):
            while second.find("a wombat!") is None:
                await asyncio.sleep(0.01)
        await second.remove("wombat")
        async with asyncio.timeout(10):
            while first.find("a wombat!") is not None:
                await asyncio.sleep(0.01)
        await stores[0].flush()
        with sqlite3.connect(tmp_path / "a.db") as db:  # a restart starts from the same list
            assert db.execute("SELECT phrase FROM banphrases").fetchall() == []
    finally:
        for banlist, store in zip(lists, stores, strict=True):
            await banlist.aclose()
            await banlist._redis.aclose()
            await store.aclose()
