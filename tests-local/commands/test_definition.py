"""A command is defined once: what the router, !help, Discord and HTTP derive from it."""

from __future__ import annotations

from commands.definition import Arg, Command, Component, Context, command
from commands.types import Reply, Role


class Greetings(Component):
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @command(
        "hello",
        aliases={"fr": ("salut",), "*": ("hi",)},
        description={"en": "Say hello", "fr": "Dis bonjour"},
        args=(Arg("name", {"en": "Who to greet"}, required=False),),
    )
    async def hello(self, ctx: Context) -> Reply:
        return Reply(f"{self.greeting} {ctx.args}".strip())

    @command("bye", min_role=Role.MODERATOR, cooldown_s=0, languages=frozenset({"en"}))
    async def bye(self, ctx: Context) -> Reply:
        return Reply("bye")


async def test_a_component_gives_its_commands_in_order_bound_to_it():
    hello, bye = Greetings("Hey").commands()
    assert (hello.name, bye.name) == ("hello", "bye")
    context = Context(None, "hello", "Ada", "en", "!", hello)  # type: ignore[arg-type]
    assert (await hello.handler(context)).text == "Hey Ada"
    assert bye.min_role is Role.MODERATOR and bye.cooldown_s == 0


def test_names_and_descriptions_per_language():
    hello, bye = Greetings("Hey").commands()
    assert hello.names("fr") == ["hello", "hi", "salut"]
    assert hello.names("en") == ["hello", "hi"]
    assert (hello.display_name("fr"), hello.display_name("en")) == ("salut", "hello")
    assert (hello.describe("fr"), hello.describe("en")) == ("Dis bonjour", "Say hello")
    assert bye.describe("fr") == "bye"  # no description: its name
    assert hello.args[0].describe("fr") == "Who to greet"  # English stands in
    assert (bye.offered_in("en"), bye.offered_in("fr"), hello.offered_in("fr")) == (
        True,
        False,
        True,
    )


def test_usage_and_the_argument_line_are_derived_from_the_arguments():
    async def handler(ctx: Context) -> Reply:
        return Reply("")

    vote = Command(
        "vote",
        handler,
        args=(
            Arg("vote", choices=(("+1", "👍"), ("-1", "👎"))),
            Arg("joke", required=False),
        ),
    )
    assert vote.usage == "+1 | -1 [<joke>]" and vote.needs_args
    assert vote.line({"joke": " #abc ", "vote": "-1"}) == "-1 #abc"
    assert vote.line({"vote": "+1", "joke": ""}) == "+1"
    optional = Command("absurd", handler, args=(Arg("text", required=False),))
    assert optional.usage == "[<text>]" and not optional.needs_args
