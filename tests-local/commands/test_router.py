"""The router: prefix, aliases, permissions, cooldowns, rate limits, bad input and floods."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from commands.definition import Arg, Command, Context
from commands.router import clean_text
from commands.types import ChatMessage, Reply, Role

VIEWER = frozenset({Role.VIEWER})
MOD = frozenset({Role.VIEWER, Role.MODERATOR})
OWNER = frozenset({Role.BROADCASTER})


def msg(text: str, user: str = "alice", roles: frozenset[Role] = VIEWER) -> ChatMessage:
    return ChatMessage("test", "chan", f"id-{user}", user, roles, text)


@pytest.fixture
async def app(settings, make_app):
    return await make_app(settings)


async def test_messages_without_prefix_get_no_reply(app):
    for text in ["hello", "joke", " !joke", "", "¡joke", "！joke"]:
        assert await app.router.handle(msg(text)) is None


async def test_joke_and_french_alias(app):
    reply = await app.router.handle(msg("!joke"))
    assert reply is not None and reply.text and reply.source == "fallback"
    assert (await app.router.handle(msg("!blague", user="bob"))) is not None


async def test_aliases_follow_the_language(settings, clock, make_app):
    settings.bot.language = "en"
    app = await make_app(settings)
    assert await app.router.handle(msg("!blague")) is None
    assert await app.router.handle(msg("!joke")) is not None


async def test_custom_prefix(settings, clock, make_app):
    settings.bot.prefix = "?!"
    app = await make_app(settings)
    assert await app.router.handle(msg("!ping")) is None
    assert (await app.router.handle(msg("?!ping"))).text == "🏓 Pong !"


async def test_commands_are_case_insensitive_and_arguments_are_parsed(settings, clock, make_app):
    app = await make_app(settings)
    seen: list[Context] = []

    async def echo(ctx: Context) -> Reply:
        seen.append(ctx)
        return Reply(ctx.args)

    app.router.register([Command("echo", echo)])
    await app.router.handle(msg("!ECHO   some   spaced\targs "))
    assert seen[0].command == "echo" and seen[0].args == "some spaced args"


async def test_unknown_and_empty_commands_are_silent(app):
    for text in ["!nope", "!", "! ", "!!!", "!\u200b", "! joke"]:
        assert await app.router.handle(msg(text)) is None, text


async def test_cachestats_is_for_moderators_and_the_broadcaster(app):
    assert await app.router.handle(msg("!cachestats")) is None
    mod_reply = await app.router.handle(msg("!cachestats", "mo", MOD))
    assert mod_reply is not None and "📊" in mod_reply.text and len(mod_reply.text) <= 450
    assert await app.router.handle(msg("!cachestats", "owner", OWNER)) is not None


async def test_help_lists_only_what_this_user_may_run(app):
    viewer_help = (await app.router.handle(msg("!help"))).text
    mod_help = (await app.router.handle(msg("!aide", "mo", MOD))).text
    assert "!blague" in viewer_help and "!cachestats" not in viewer_help
    assert "!cachestats" in mod_help


async def test_ping_and_uptime_answer_at_once(app, clock):
    assert (await app.router.handle(msg("!ping"))).text == "🏓 Pong !"
    clock.advance(3725)
    assert (await app.router.handle(msg("!uptime"))).text == "⏱️ En ligne depuis 1h02m."


async def test_cooldown_gives_one_notice_per_window_then_silence(app, clock):
    assert (await app.router.handle(msg("!joke"))).source == "fallback"
    notice = await app.router.handle(msg("!joke"))
    assert notice is not None and "5s" in notice.text and notice.source == "local"
    assert await app.router.handle(msg("!joke")) is None  # no second notice in the window
    assert await app.router.handle(msg("!ping")) is not None  # cooldowns are per command
    assert await app.router.handle(msg("!joke", user="bob")) is not None  # and per user
    clock.advance(5.01)
    assert (await app.router.handle(msg("!joke"))).source == "fallback"


async def test_moderators_skip_cooldowns(app):
    for _ in range(3):
        assert (await app.router.handle(msg("!joke", "mo", MOD))).source == "fallback"


async def test_sliding_window_rate_limit(settings, clock, make_app):
    settings.limits.user_cooldown_s = 0
    settings.limits.user_rate_per_min = 3
    app = await make_app(settings)
    answered = []
    for _ in range(5):
        answered.append(await app.router.handle(msg("!ping")) is not None)
        clock.advance(10)
    assert answered == [True, True, True, False, False]
    clock.advance(11)  # t=61 after the first: it has left the window
    assert await app.router.handle(msg("!ping")) is not None
    assert await app.router.handle(msg("!ping")) is None


async def test_limits_can_be_switched_off(settings, clock, make_app):
    app = await make_app(settings, enforce_limits=False)
    for _ in range(50):
        assert (await app.router.handle(msg("!joke"))).source == "fallback"


async def test_over_long_input_gets_a_short_refusal(settings, clock, make_app):
    settings.limits.max_prompt_chars = 10
    app = await make_app(settings)
    seen: list[str] = []

    async def echo(ctx: Context) -> Reply:
        seen.append(ctx.args)
        return Reply("ok")

    app.router.register([Command("echo", echo)])
    reply = await app.router.handle(msg("!echo " + "x" * 11))
    assert "11" in reply.text and "10" in reply.text and len(reply.text) < 100
    assert seen == []
    assert (await app.router.handle(msg("!echo " + "y" * 10, user="bob"))).text == "ok"


async def test_commands_needing_arguments_show_usage(settings, clock, make_app):
    app = await make_app(settings)

    async def never(ctx: Context) -> Reply:
        raise AssertionError("must not run without arguments")

    app.router.register([Command("say", never, args=(Arg("text"),))])
    assert (await app.router.handle(msg("!say"))).text == "Utilisation : !say <text>"


async def test_a_failing_handler_gets_a_short_error_not_a_crash(app):
    async def boom(ctx: Context) -> Reply:
        raise RuntimeError("kaput")

    app.router.register([Command("boom", boom)])
    reply = await app.router.handle(msg("!boom"))
    assert reply is not None and "Oups" in reply.text
    assert app.stats.errors["boom"] == 1


def test_clean_text_drops_control_and_invisible_characters():
    assert clean_text("jo\u200bke") == "joke"
    assert clean_text("a\u202eb\x00c\x1b[31m") == "abc[31m"
    assert clean_text("  many \n\t lines\r\n ") == "many lines"
    assert clean_text("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"
    assert clean_text("é") == clean_text("e\u0301")


async def test_unicode_tricks_in_command_names(app):
    assert (await app.router.handle(msg("!jo\u200bke"))) is not None
    assert (await app.router.handle(msg("!\u202eekoj", user="b"))) is None
    assert (await app.router.handle(msg("!ｊｏｋｅ", user="c"))) is not None  # NFKC folds it


async def test_flood_of_10000_messages_from_500_users_stays_bounded(app, clock):
    rng = random.Random(7)
    texts = [
        "!joke",
        "!blague",
        "hello chat",
        "!help",
        "!cachestats",
        "!nope",
        "!ping",
        "!" + "x" * 5000,
        "!joke " + "\u200b" * 100,
        "lol",
        "!uptime",
    ]
    tracemalloc.start()
    replies = 0
    for i in range(10_000):
        user = f"u{rng.randrange(500)}"
        reply = await app.router.handle(msg(rng.choice(texts), user=user))
        replies += reply is not None
        if i % 100 == 0:
            clock.advance(1)
    tracked_during = app.router.tracked_users()
    clock.advance(3600)
    assert app.router.tracked_users() == 0  # idle users' state expires
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 0 < tracked_during <= 1000
    assert 0 < replies < 10_000
    assert peak < 20 * 1024 * 1024


async def test_hidden_commands_are_reached_only_through_dispatch(settings, clock, make_app):
    app = await make_app(settings)
    seen: list[str] = []

    async def mention(ctx: Context) -> Reply:
        seen.append(ctx.args)
        return Reply("hi!")

    app.router.register([Command("greet", mention, hidden=True, cooldown_s=30)])
    assert await app.router.handle(msg("!greet there")) is None
    assert "greet" not in (await app.router.handle(msg("!help"))).text
    assert (
        await app.router.dispatch("greet", msg("@bot how\u200b are you"), "how\u200b are you")
    ).text == "hi!"
    assert seen == ["how are you"]
    notice = await app.router.dispatch("greet", msg("x"), "again")
    assert notice is not None and "⏳" in notice.text  # its own cooldown
    assert (await app.router.handle(msg("!ping"))) is not None  # other commands unaffected


async def test_a_joke_reply_says_a_joke_and_names_it(app):
    reply = await app.router.handle(msg("!blague", user="bob"))
    assert reply.source == "fallback" and len(reply.text) > 15 and reply.text[-1] in ".!?…»"
    assert reply.joke_id is not None and len(reply.joke_id) == 12


async def test_help_explains_one_command_from_its_definition(app):
    users = iter(range(100))

    async def help_for(text: str, roles=VIEWER) -> str:
        return (await app.router.handle(msg(text, f"user{next(users)}", roles))).text

    assert await help_for("!help ask") == "!ask <question> : Pose une question à quipbot"
    assert await help_for("!aide !blague") == (
        "!blague : Une blague que tu n'as pas encore entendue"
    )
    assert await help_for("!aide vote") == (
        "!vote +1 | -1 [<joke>] : Vote pour une blague (ta dernière, sauf si tu donnes son "
        "identifiant)"
    )
    # A viewer asking about a moderator command gets the list, which does not show it.
    assert (await help_for("!aide cachestats")).startswith("Commandes : !aide, !ping")
    assert "cachestats" not in await help_for("!aide cachestats")
    assert (await help_for("!aide cachestats", MOD)).startswith("!cachestats : Chiffres du cache")


async def test_a_cooldown_notice_says_when_to_come_back(app, clock):
    await app.router.handle(msg("!ping"))
    notice = await app.router.handle(msg("!ping"))
    assert notice.text == "⏳ alice, encore 5s avant le prochain !ping."
    assert notice.retry_after_s == pytest.approx(5.0)


async def test_a_reply_names_the_command_as_the_viewer_typed_it(app):
    """In a French channel !joke and !blague are one command: a viewer who typed !joke is
    told about !joke, not !blague."""
    await app.router.handle(msg("!joke"))
    assert (await app.router.handle(msg("!JOKE"))).text == (
        "⏳ alice, encore 5s avant le prochain !joke."
    )
    await app.router.handle(msg("!blague", user="bob"))
    assert "prochain !blague." in (await app.router.handle(msg("!blague", user="bob"))).text
    assert (await app.router.handle(msg("!forget", "mo", MOD))).text == (
        "Utilisation : !forget <question>"
    )
    assert (await app.router.handle(msg("!oublie", "mo", MOD))).text == (
        "Utilisation : !oublie <question>"
    )
    assert (await app.router.handle(msg("!aide joke", "carol"))).text.startswith("!joke : ")
    assert (await app.router.handle(msg("!aide BLAGUE", "dave"))).text.startswith("!blague : ")


async def test_french_words_for_a_vote_exist_in_french_only(settings, clock, make_app):
    french = await make_app(settings)
    reply = await french.router.handle(msg("!top"))
    assert reply.text == "alice, aucune blague à noter pour l'instant : essaie !blague."
    settings.bot.language = "en"
    english = await make_app(settings)
    assert await english.router.handle(msg("!top")) is None
    assert "top" not in {c.name for c in english.router.commands}


async def test_a_name_taken_twice_is_refused_at_registration(app):
    async def handler(ctx: Context) -> Reply:
        return Reply("x")

    with pytest.raises(ValueError, match="'blague' registered twice"):
        app.router.register([Command("fun", handler, aliases={"fr": ("blague",)})])
