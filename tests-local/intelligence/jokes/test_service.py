"""Fresh jokes for every viewer and votes, on the real stack: SQLite files, a real Redis and
the fake LLM."""

from __future__ import annotations

import asyncio

import pytest
from support.stack import (  # noqa: F401 (fixtures)
    MOD,
    VIEWER,
    fake_fixture,
    msg,
    say,
    settings_for,
)

from intelligence.jokes.history import RECENT_PER_VIEWER


def assert_no_repeat_within(served: list[str], window: int = RECENT_PER_VIEWER) -> None:
    for i in range(len(served)):
        recent = served[max(0, i - window + 1) : i + 1]
        assert len(set(recent)) == len(recent), f"repeat at {i}: {served[i]}"


pytestmark = pytest.mark.usefixtures("isolated_env")


async def test_1000_jokes_for_50_viewers_with_restarts_never_repeat(fake, make_app, tmp_path):
    served: dict[str, list[str]] = {f"v{i}": [] for i in range(50)}
    sources: set[str] = set()
    for _restart in range(4):
        app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
        for _ in range(5):
            for viewer in served:
                reply = await say(app, "!joke", viewer)
                served[viewer].append(reply.text)
                sources.add(reply.source)
        await app.aclose()  # a restart: only SQLite remembers
    assert sum(len(s) for s in served.values()) == 1000
    for sequence in served.values():
        assert_no_repeat_within(sequence)
    assert sources <= {"l1", "llm"}  # while the LLM is up, jokes come from it
    assert all(text.startswith("Pourquoi le pigeon") for s in served.values() for text in s)
    assert fake.calls < 1000 * 0.3  # a batch per call, shared between viewers


async def test_jokes_are_shared_between_channels_and_never_twice_in_a_channel(
    fake, make_app, tmp_path
):
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    told: dict[str, list[str]] = {}
    for i in range(60):
        channel = f"chan{i % 3}"
        reply = await say(app, "!joke", f"viewer{i % 7}", channel=channel)
        told.setdefault(channel, []).append(reply.text)
    for texts in told.values():
        assert len(set(texts)) == len(texts) == 20  # everyone in a channel reads every joke
    every = [text for texts in told.values() for text in texts]
    assert len(set(every)) < len(every)  # a joke one channel heard served another
    assert fake.calls <= 60 / 5


async def test_two_instances_sharing_redis_never_repeat(fake, make_app, tmp_path, redis_server):
    extra = {"cache": {"redis_url": redis_server.url}}
    first = await make_app(settings_for(tmp_path / "a", fake, **extra), enforce_limits=False)
    second = await make_app(settings_for(tmp_path / "b", fake, **extra), enforce_limits=False)
    served = []
    for i in range(120):
        app = first if i % 2 == 0 else second
        served.append((await say(app, "!joke", "alice", channel=f"c{i % 3}")).text)
    assert_no_repeat_within(served)


async def test_offline_only_when_no_llm_and_a_cold_pool_waits_for_the_llm(fake, make_app, tmp_path):
    fake.latency_s = 0.1
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    first = await say(app, "!joke")
    assert first.source == "llm" and first.text.startswith("Pourquoi le pigeon")
    await fake.stop()
    for _client, breaker in app.pool.backends:  # an open breaker: the LLM is known down
        for _ in range(5):
            breaker.failure()
    texts = [(await say(app, "!joke", "bob")).text for _ in range(8)]
    assert len(set(texts)) == 8  # the pool's jokes, then offline ones, still no repeat
    fallback = await say(app, "!joke", "carol")
    assert fallback.source in ("l1", "fallback")


async def test_the_pool_refills_in_the_background_and_not_for_an_idle_channel(
    fake, make_app, tmp_path, clock
):
    import asyncio

    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    refill = app.jokes.refill

    async def refilled() -> None:  # the background refill, if one started, has finished
        async with asyncio.timeout(10):
            while refill._task is not None:
                await asyncio.sleep(0.001)

    for i in range(30):
        await say(app, "!joke", f"v{i % 5}")
        await refilled()
    calls = fake.calls
    assert 1 <= calls <= 30 // 5 + 2
    clock.advance(3600)  # everyone has left: the demand window is empty
    await asyncio.sleep(0.2)
    assert fake.calls == calls
    assert app.jokes.pool_size() > 0


async def test_llm_jokes_are_cleaned(fake, make_app, tmp_path):
    fake.reply = (
        "Voici 5 blagues :\n1. /ban Pourquoi les poissons détestent l'ordinateur ? Le net.\n"
        "2. .timeout Que dit @everyone à un zéro ? Joli ceinture !\n"
        "3. " + "x" * 3000 + "\n"
        "4. Why did the chicken cross the road? To get to the other side.\n"
        "5. « Qu'est-ce qui est jaune et qui attend ? Jonathan. »"
    )
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    texts = {(await say(app, "!joke")).text for _ in range(3)}  # one viewer: no repeats
    assert texts == {
        "ban Pourquoi les poissons détestent l'ordinateur ? Le net.",
        "timeout Que dit everyone à un zéro ? Joli ceinture !",
        "Qu'est-ce qui est jaune et qui attend ? Jonathan.",
    }


async def test_votes_replace_retire_and_rank(fake, make_app, tmp_path):
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    assert "aucune blague" in (await say(app, "!vote +1")).text
    joke = await say(app, "!joke")
    assert (await say(app, "!vote +1")).text == "🗳️ Merci alice ! Cette blague est à +1."
    assert (await say(app, "!top")).text.endswith("+1.")  # a second vote replaces the first
    assert (await say(app, "!bof")).text.endswith("-1.")
    assert (await say(app, "!vote +1")).text.endswith("+1.")
    for viewer in ("bob", "carol"):
        assert (await say(app, f"!vote +1 #{joke.joke_id}", viewer)).text.endswith(".")
    assert (await say(app, "!topjokes")).text == f"1. {joke.text} (+3)"
    assert "Utilisation" in (await say(app, "!vote maybe")).text

    bad = await say(app, "!joke", "dave")
    for viewer in ("dave", "erin", "frank"):
        result = await say(app, f"!vote -1 #{bad.joke_id}", viewer)
    assert "retraite" in result.text
    served = {(await say(app, "!joke", f"w{i}")).text for i in range(40)}
    assert bad.text not in served
    assert "Utilisation" not in (await say(app, "!vote -1 #000000000000")).text  # unknown: polite


async def test_a_viewer_forgotten_by_memory_is_remembered_by_sqlite(
    fake, make_app, tmp_path, monkeypatch
):
    import intelligence.jokes.history

    monkeypatch.setattr(intelligence.jokes.history, "MAX_AUDIENCES", 3)  # memory holds 3 only
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    served = [(await say(app, "!joke", "alice")).text for _ in range(5)]
    for viewer in ("bob", "carol", "dave", "erin"):  # alice is evicted from memory
        await say(app, "!joke", viewer)
    await app.store.flush()
    served += [(await say(app, "!joke", "alice")).text for _ in range(5)]
    assert len(set(served)) == 10


async def test_viewers_who_went_quiet_leave_memory_but_not_the_guarantee(
    fake, make_app, tmp_path, clock
):
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    served = [(await say(app, "!joke", "alice")).text for _ in range(5)]
    clock.advance(app.settings.bot.idle_user_s + 1)  # alice and her channel went quiet
    await say(app, "!joke", "bob", channel="elsewhere")  # a new viewer: idle ones expire
    assert app.jokes.viewers.families_here("alice") == set()  # out of memory
    served += [(await say(app, "!joke", "alice")).text for _ in range(5)]
    assert len(set(served)) == 10  # SQLite still knew what she heard


async def test_the_served_table_keeps_only_what_the_guarantee_needs(fake, make_app, tmp_path):
    small = {"cache": {"joke_window": 30}}  # the viewer's 50 outlast the channel's 30
    app = await make_app(settings_for(tmp_path, fake, **small), enforce_limits=False)
    for _ in range(RECENT_PER_VIEWER + 20):
        await say(app, "!joke")
    await app.aclose()
    app = await make_app(settings_for(tmp_path, fake, **small), enforce_limits=False)
    await say(app, "!joke")  # loading the history at start-up prunes older rows
    await app.store.flush()
    [(count,)] = await app.store.fetch("SELECT COUNT(*) FROM jokes_served")
    assert count == RECENT_PER_VIEWER + 1


async def test_instances_sharing_redis_share_one_joke_pool(fake, make_app, tmp_path, redis_server):
    extra = {"cache": {"redis_url": redis_server.url}}
    first = await make_app(settings_for(tmp_path / "a", fake, **extra), enforce_limits=False)
    second = await make_app(settings_for(tmp_path / "b", fake, **extra), enforce_limits=False)
    import asyncio

    made_by_first = {(await say(first, "!joke", "alice")).text for _ in range(3)}
    async with asyncio.timeout(10):  # let the first instance's background refill finish
        while first.jokes.refill._task is not None:
            await asyncio.sleep(0.01)
    calls = fake.calls
    told_by_second = {(await say(second, "!joke", "bob")).text for _ in range(3)}
    assert fake.calls == calls  # the second instance told the first one's jokes
    assert told_by_second <= made_by_first | {j.text for j in first.jokes.pool}


async def test_offline_jokes_are_fresh_for_the_viewer_and_the_channel_too(make_app, tmp_path):
    app = await make_app(settings_for(tmp_path), enforce_limits=False)  # no LLM at all
    told = [(await say(app, "!joke", "alice")).text for _ in range(50)]
    await app.store.flush()
    rows = await app.store.fetch("SELECT family FROM jokes_served ORDER BY at")
    families = [row[0] for row in rows]
    assert len(set(families)) == 50  # 50 different jokes, not 24 shapes with other subjects
    assert len(set(told)) == 50
    others = [(await say(app, "!joke", f"v{i}")).text for i in range(40)]  # same channel
    await app.store.flush()
    rows = await app.store.fetch("SELECT family FROM jokes_served ORDER BY at")
    assert len({row[0] for row in rows}) == 90 and not set(others) & set(told)


async def test_a_channel_that_heard_every_offline_joke_hears_the_oldest_again(
    make_app, tmp_path, caplog
):
    app = await make_app(settings_for(tmp_path), enforce_limits=False)  # no LLM at all
    count = len(app.jokes.offline.families)
    for i in range(count + 5):
        await say(app, "!joke", f"v{i}")
    await app.store.flush()
    rows = await app.store.fetch("SELECT family FROM jokes_served ORDER BY at, rowid")
    families = [row[0] for row in rows]
    assert len(set(families[:count])) == count  # every one once
    assert families[count:] == families[:5]  # then the oldest first
    warnings = [r for r in caplog.records if "heard them all" in r.getMessage()]
    assert len(warnings) == 1  # said once, not on every joke


async def test_the_first_offline_joke_is_not_the_same_at_every_start(make_app, tmp_path):
    firsts = set()
    for start in range(5):
        app = await make_app(settings_for(tmp_path / str(start)), enforce_limits=False)
        firsts.add((await say(app, "!joke", "you")).text)
    assert len(firsts) > 1


async def test_a_hung_llm_costs_a_cold_pool_one_short_wait(fake, make_app, tmp_path):
    fake.hang_next(seconds=None)
    settings = settings_for(tmp_path, fake, cache={"joke_wait_s": 0.1})
    app = await make_app(settings, enforce_limits=False)
    reply = await say(app, "!joke")
    assert reply.source == "fallback"
    # Told while the refill still waits on the hung call: without the bounded wait, the joke
    # would have waited for the call to fail at llm.timeout_s, and the refill would be over.
    assert app.jokes.refill._task is not None


async def test_a_burst_in_one_channel_never_tells_one_joke_twice(fake, make_app, tmp_path):
    """Twelve viewers ask at once while the pool is cold: all wait for the same refill, and
    each still gets a joke the others did not (the channel reads all twelve)."""
    fake.latency_s = 0.2
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    replies = await asyncio.gather(*(say(app, "!joke", f"viewer{i}") for i in range(12)))
    assert len({reply.text for reply in replies}) == 12
