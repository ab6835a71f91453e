"""Viewer commands that make something: !joke."""

from __future__ import annotations

from commands.router import Command, Context
from commands.types import Reply
from intelligence.jokes import JokeService


def viewer_key(ctx: Context) -> str:
    """A viewer's stable identity: the platform's user id, never the display name."""
    return f"{ctx.message.platform}:{ctx.message.user_id}"


def fun_commands(jokes: JokeService) -> list[Command]:
    async def joke(ctx: Context) -> Reply:
        result = await jokes.next_for(viewer_key(ctx))
        return Reply(result.text, source=result.source)

    return [Command("joke", joke, aliases={"fr": ("blague",)})]
