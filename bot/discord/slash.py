"""Discord's slash commands, derived from the command definitions: a command's name, its
description in the bot's language, one option per argument (with its choices and length
bound), and Manage Messages for moderator commands.

Each slash command runs the router command of the same name, so limits, permissions and
answers are those of chat.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Optional

import discord
from discord import app_commands

from commands.definition import Arg, Command
from commands.types import Role

DISCORD_MAX_OPTION_CHARS = 6000  # the longest string option Discord accepts

# Runs one slash command: (interaction, which command, the router arguments).
Runner = Callable[[discord.Interaction, Command, str], Awaitable[None]]


def slash_commands(
    definitions: list[Command], run: Runner, *, language: str, max_chars: int
) -> list[app_commands.Command[Any, ..., None]]:
    """One slash command per command offered in menus in this language."""
    return [
        _slash(definition, run, language=language, max_chars=max_chars)
        for definition in definitions
        if definition.menu and not definition.hidden and definition.offered_in(language)
    ]


def _slash(
    definition: Command, run: Runner, *, language: str, max_chars: int
) -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        values = {name: getattr(value, "value", value) for name, value in options.items() if value}
        await run(interaction, definition, definition.line(values))

    # discord.py reads a command's options from its callback's signature.
    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *(_option(arg, max_chars) for arg in definition.args),
    ]
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    descriptions = {arg.name: arg.describe(language) for arg in definition.args}
    if descriptions:
        app_commands.describe(**descriptions)(callback)
    choices = {
        arg.name: [app_commands.Choice(name=label, value=value) for value, label in arg.choices]
        for arg in definition.args
        if arg.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=definition.name,
        description=definition.describe(language)[:100],
        callback=callback,
    )
    if definition.min_role >= Role.MODERATOR:
        # The hint Discord uses to hide the command, and the check enforced here, since a
        # server admin may grant the command to anyone in Server Settings → Integrations.
        command = app_commands.default_permissions(manage_messages=True)(command)
        command = app_commands.checks.has_permissions(manage_messages=True)(command)
        command = app_commands.guild_only()(command)
    return command


def _option(arg: Arg, max_chars: int) -> inspect.Parameter:
    if arg.choices:
        annotation: Any = app_commands.Choice[str]
    else:
        longest = max(1, min(arg.max_chars or max_chars, DISCORD_MAX_OPTION_CHARS))
        annotation = app_commands.Range[str, 1, longest]
    if arg.required:
        return inspect.Parameter(arg.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
    return inspect.Parameter(
        arg.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[annotation],  # noqa: UP045 (discord.py reads it)
        default=None,
    )
