"""Slash commands are derived from the command definitions: a new command needs no Discord code."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord.slash import slash_commands
from commands.definition import Arg, Command, Component, Context, command
from commands.types import Reply, Role


class Facts(Component):
    @command(
        "fact",
        description={"en": "A fact about a subject", "fr": "Un fait sur un sujet"},
        args=(
            Arg("subject", {"en": "The subject", "fr": "Le sujet"}),
            Arg("tone", {"fr": "Le ton"}, required=False, choices=(("dry", "🧊"), ("fun", "🎉"))),
        ),
    )
    async def fact(self, ctx: Context) -> Reply:
        return Reply(ctx.args)

    @command("secret", min_role=Role.MODERATOR)
    async def secret(self, ctx: Context) -> Reply:
        return Reply("")

    @command("quiet", hidden=True)
    async def quiet(self, ctx: Context) -> Reply:
        return Reply("")

    @command("chatonly", menu=False)
    async def chatonly(self, ctx: Context) -> Reply:
        return Reply("")

    @command("onlyfr", languages=frozenset({"fr"}))
    async def onlyfr(self, ctx: Context) -> Reply:
        return Reply("")


async def test_one_slash_command_per_menu_command_with_its_options():
    runs: list[tuple[str, str]] = []

    async def run(interaction: discord.Interaction, definition: Command, args: str) -> None:
        runs.append((definition.name, args))

    commands = slash_commands(Facts().commands(), run, language="fr", max_chars=300)
    assert [c.name for c in commands] == ["fact", "secret", "onlyfr"]
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    fact, secret, _ = (c.to_dict(tree) for c in commands)
    assert fact["description"] == "Un fait sur un sujet"
    subject, tone = fact["options"]
    assert (subject["name"], subject["required"], subject["max_length"]) == ("subject", True, 300)
    assert subject["description"] == "Le sujet"
    assert tone["required"] is False
    assert [(c["name"], c["value"]) for c in tone["choices"]] == [("🧊", "dry"), ("🎉", "fun")]
    assert fact["default_member_permissions"] is None
    assert secret["default_member_permissions"] == discord.Permissions(manage_messages=True).value
    assert secret["dm_permission"] is False

    # Options arrive as keywords; the handler gets them as one line, in definition order.
    choice = app_commands.Choice(name="🎉", value="fun")
    await commands[0].callback(None, tone=choice, subject="cats")
    assert runs == [("fact", "cats fun")]


def test_english_descriptions_stand_in_and_languages_filter():
    async def run(interaction: discord.Interaction, definition: Command, args: str) -> None:
        pass

    commands = slash_commands(Facts().commands(), run, language="en", max_chars=9000)
    assert [c.name for c in commands] == ["fact", "secret"]
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    subject = commands[0].to_dict(tree)["options"][0]
    assert subject["max_length"] == 6000  # Discord's own ceiling
    assert commands[1].to_dict(tree)["description"] == "secret"
