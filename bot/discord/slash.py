"""The slash commands, each the twin of the router command of the same name.

Annotations here are evaluated at definition time (no ``from __future__ import annotations``):
discord.py reads them to build each option, and ``/ask``'s length bound comes from the config.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Optional

import discord
from discord import app_commands

DISCORD_MAX_OPTION_CHARS = 6000  # the longest string option Discord accepts


@dataclass(frozen=True, slots=True)
class Slash:
    name: str  # also the router command it runs
    defer: bool = False  # defer at once: the answer usually needs the LLM
    moderator: bool = False  # needs Manage Messages; its answers are ephemeral


SLASH = {
    s.name: s
    for s in (
        Slash("joke"),
        Slash("ask", defer=True),
        Slash("absurd"),
        Slash("vote"),
        Slash("topjokes"),
        Slash("cachestats", moderator=True),
        Slash("cacheclear", moderator=True),
    )
}

DESCRIPTIONS = {
    "en": {
        "joke": "A joke you have not heard yet",
        "ask": "Ask quipbot a question",
        "question": "Your question",
        "absurd": "Something absurd",
        "vote": "Vote for a joke (your last one unless you give its id)",
        "vote.vote": "👍 or 👎",
        "vote.joke": "The joke's id, as in #1a2b3c4d5e6f",
        "topjokes": "The best-voted jokes",
        "cachestats": "Cache and LLM figures (moderators)",
        "cacheclear": "Empty the answer cache (moderators)",
    },
    "fr": {
        "joke": "Une blague que tu n'as pas encore entendue",
        "ask": "Pose une question à quipbot",
        "question": "Ta question",
        "absurd": "Quelque chose d'absurde",
        "vote": "Vote pour une blague (ta dernière, sauf si tu donnes son identifiant)",
        "vote.vote": "👍 ou 👎",
        "vote.joke": "L'identifiant de la blague, comme #1a2b3c4d5e6f",
        "topjokes": "Les blagues les mieux notées",
        "cachestats": "Chiffres du cache et du LLM (modérateurs)",
        "cacheclear": "Vide le cache des réponses (modérateurs)",
    },
}

# Runs one slash command: (interaction, which command, the router arguments).
Runner = Callable[[discord.Interaction, Slash, str], Awaitable[None]]


def slash_commands(run: Runner, *, language: str, max_question: int) -> list[app_commands.Command]:
    text = DESCRIPTIONS[language]
    max_question = max(1, min(max_question, DISCORD_MAX_OPTION_CHARS))

    def no_options(spec: Slash) -> app_commands.Command:
        async def callback(interaction: discord.Interaction) -> None:
            await run(interaction, spec, "")

        return app_commands.Command(name=spec.name, description=text[spec.name], callback=callback)

    @app_commands.describe(question=text["question"])
    async def ask(
        interaction: discord.Interaction, question: app_commands.Range[str, 1, max_question]
    ) -> None:
        await run(interaction, SLASH["ask"], question)

    @app_commands.describe(vote=text["vote.vote"], joke=text["vote.joke"])
    @app_commands.choices(
        vote=[
            app_commands.Choice(name="👍 +1", value="+1"),
            app_commands.Choice(name="👎 -1", value="-1"),
        ]
    )
    async def vote(
        interaction: discord.Interaction,
        vote: app_commands.Choice[str],
        joke: Optional[app_commands.Range[str, 1, 20]] = None,  # noqa: UP045 (discord.py reads it)
    ) -> None:
        joke_id = (joke or "").strip().lstrip("#")
        await run(interaction, SLASH["vote"], vote.value + (f" #{joke_id}" if joke_id else ""))

    commands: list[app_commands.Command] = []
    for spec in SLASH.values():
        if spec.name == "ask":
            command = app_commands.Command(name="ask", description=text["ask"], callback=ask)
        elif spec.name == "vote":
            command = app_commands.Command(name="vote", description=text["vote"], callback=vote)
        else:
            command = no_options(spec)
        if spec.moderator:
            # The hint Discord uses to hide the command, and the check enforced here, since a
            # server admin may grant the command to anyone in Server Settings → Integrations.
            command = app_commands.default_permissions(manage_messages=True)(command)
            command = app_commands.checks.has_permissions(manage_messages=True)(command)
            command = app_commands.guild_only()(command)
        commands.append(command)
    return commands
