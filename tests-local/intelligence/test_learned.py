"""Learned answers: asked three times, pinned, across restarts and instances."""

from __future__ import annotations

import pytest
from support.stack import (  # noqa: F401 (fixtures)
    MOD,
    VIEWER,
    fake_fixture,
    msg,
    say,
    settings_for,
)

pytestmark = pytest.mark.usefixtures("isolated_env")


async def test_answers_asked_three_times_are_learned_and_survive_ttl_and_restart(
    fake, make_app, tmp_path, clock
):
    settings = settings_for(tmp_path, fake, cache={"ask_ttl_s": 600})
    app = await make_app(settings, enforce_limits=False)
    assert (await say(app, "!ask Quelle est la capitale de la France ?")).source == "llm"
    assert (await say(app, "!ask quelle est la capitale de la france", "bob")).source == "l1"
    assert "learned 0" in (await say(app, "!cachestats", "mo", roles=MOD)).text
    assert (await say(app, "!ask c'est quoi la capitale de la France", "carol")).source == "fuzzy"
    assert "learned 1" in (await say(app, "!cachestats", "mo", roles=MOD)).text
    clock.advance(601)  # past the TTL: a plain cache entry would be gone
    assert (await say(app, "!ask Quelle est la capitale de la France ?", "dave")).source == "l1"
    await app.aclose()

    app = await make_app(settings, enforce_limits=False)  # restarted
    again = await say(app, "!ask Quelle est la capitale de la France ?", "erin")
    assert again.source == "l1" and fake.calls == 1
    forgot = await say(app, "!forget capitale de la France ?", "mo", roles=MOD)
    assert forgot.text.startswith("🧽")
    assert (await say(app, "!ask Quelle est la capitale de la France ?", "gus")).source == "llm"
    assert (await say(app, "!forget autre chose", "mo", roles=MOD)).text.startswith("Aucune")
    assert await app.router.handle(msg("!forget x")) is None  # viewers may not


async def test_time_sensitive_answers_are_kept_a_minute_and_never_learned(
    fake, make_app, tmp_path, clock
):
    app = await make_app(settings_for(tmp_path, fake), enforce_limits=False)
    for viewer in ("a", "b", "c", "d"):
        await say(app, "!ask quel est le score maintenant ?", viewer)
    assert fake.calls == 1 and "learned 0" in (await say(app, "!cachestats", "m", roles=MOD)).text
    clock.advance(61)
    assert (await say(app, "!ask quel est le score maintenant ?", "e")).source == "llm"


async def test_asks_on_several_instances_count_together(fake, make_app, tmp_path, redis_server):
    extra = {"cache": {"redis_url": redis_server.url}}
    first = await make_app(settings_for(tmp_path / "a", fake, **extra), enforce_limits=False)
    second = await make_app(settings_for(tmp_path / "b", fake, **extra), enforce_limits=False)
    assert (await say(first, "!ask combien de lunes a Jupiter ?")).source == "llm"
    assert (await say(second, "!ask combien de lunes a Jupiter ?", "bob")).source == "l2"
    assert (await say(first, "!ask combien de lunes a Jupiter ?", "carol")).source == "l1"
    assert "learned 1" in (await say(first, "!cachestats", "mo", roles=MOD)).text
