"""Viewer commands that make something: !joke and !ask."""

from __future__ import annotations

from commands.router import Command, Context
from commands.texts import text
from commands.types import Reply
from intelligence.ask import AskService
from intelligence.jokes import JokeService
from intelligence.resilience import NoBackendAvailable


def viewer_key(ctx: Context) -> str:
    """A viewer's stable identity: the platform's user id, never the display name."""
    return f"{ctx.message.platform}:{ctx.message.user_id}"


def fun_commands(jokes: JokeService, ask: AskService) -> list[Command]:
    async def joke(ctx: Context) -> Reply:
        result = await jokes.next_for(viewer_key(ctx))
        return Reply(result.text, source=result.source)

    def answering(tone: str):
        async def handler(ctx: Context) -> Reply:
            try:
                answer = await ask.answer(ctx.args, tone=tone)
            except NoBackendAvailable:
                return Reply(text(ctx.language, "ai_resting"), source="fallback")
            return Reply(answer.text, answer.stream, answer.source)

        return handler

    return [
        Command("joke", joke, aliases={"fr": ("blague",)}),
        Command("ask", answering("ask"), usage="<question>"),
        # "@bot question" on a platform: like !ask, friendlier, with its own cooldown.
        Command("mention", answering("mention"), usage="<question>", hidden=True),
    ]
