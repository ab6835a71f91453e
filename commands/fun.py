"""Viewer commands: !joke, !ask, !absurd, !vote (!top / !bof), !topjokes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from commands.router import Command, Context, Handler
from commands.texts import text
from commands.types import Reply
from intelligence.ask import Answer, AskService
from intelligence.jokes import JokeService
from intelligence.resilience import NoBackendAvailable

_VOTE = re.compile(r"^([+-]?1|\+|-|up|down)(?:\s+#?([0-9a-f]{12}))?$", re.IGNORECASE)


def viewer_key(ctx: Context) -> str:
    """A viewer's stable identity: the platform's user id, never the display name."""
    return f"{ctx.message.platform}:{ctx.message.user_id}"


def session_key(ctx: Context) -> str:
    """Whose history a turn belongs to: the platform's conversation, else the viewer."""
    conversation = ctx.message.conversation_id
    return f"{ctx.message.platform}:conv:{conversation}" if conversation else viewer_key(ctx)


def as_reply(answer: Answer) -> Reply:
    """A Reply that learns the answer's token usage when its stream ends (for the chat log)."""
    reply = Reply(answer.text, source=answer.source)
    if answer.stream is None:
        reply.tokens = _tokens(answer)
        return reply

    async def relay(stream: AsyncIterator[str]) -> AsyncIterator[str]:
        async for piece in stream:
            yield piece
        reply.tokens = _tokens(answer)

    reply.stream = relay(answer.stream)
    return reply


def _tokens(answer: Answer) -> tuple[int, int]:
    usage = answer.usage
    return (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)


def fun_commands(jokes: JokeService, ask: AskService) -> list[Command]:
    async def joke(ctx: Context) -> Reply:
        result = await jokes.next_for(
            viewer_key(ctx), f"{ctx.message.platform}:{ctx.message.channel}"
        )
        return Reply(result.text, source=result.source, joke_id=result.key)

    def answering(tone: str) -> Handler:
        async def handler(ctx: Context) -> Reply:
            try:
                answer = await ask.answer(
                    ctx.args,
                    tone=tone,
                    session=session_key(ctx),
                    conversation=ctx.message.conversation_id is not None,
                )
            except NoBackendAvailable:
                return Reply(text(ctx.language, "ai_resting"), source="fallback")
            return as_reply(answer)

        return handler

    async def absurd(ctx: Context) -> Reply:
        return as_reply(await ask.absurd(ctx.args, session=session_key(ctx)))

    async def vote_with(ctx: Context, value: int, key: str | None) -> Reply:
        result = await jokes.vote(viewer_key(ctx), value, key)
        if result is None:
            return Reply(text(ctx.language, "vote_nothing", user=ctx.message.user_name))
        key_name = "vote_retired" if result.retired else "vote_counted"
        return Reply(text(ctx.language, key_name, user=ctx.message.user_name, score=result.score))

    async def vote(ctx: Context) -> Reply:
        match = _VOTE.match(ctx.args.strip())
        if match is None:
            return Reply(
                text(ctx.language, "usage", prefix=ctx.prefix, command="vote", usage="+1 | -1")
            )
        value = -1 if match.group(1).lower() in ("-1", "-", "down") else 1
        return await vote_with(ctx, value, match.group(2) and match.group(2).lower())

    async def upvote(ctx: Context) -> Reply:
        return await vote_with(ctx, 1, None)

    async def downvote(ctx: Context) -> Reply:
        return await vote_with(ctx, -1, None)

    async def topjokes(ctx: Context) -> Reply:
        best = await jokes.top(3)
        if not best:
            return Reply(text(ctx.language, "top_empty"))
        return Reply(
            " · ".join(f"{i}. {joke} (+{score})" for i, (joke, score) in enumerate(best, 1))
        )

    commands = [
        Command("joke", joke, aliases={"fr": ("blague",)}),
        Command("ask", answering("ask"), usage="<question>"),
        # "@bot question" on a platform: like !ask, friendlier, with its own cooldown.
        Command("mention", answering("mention"), usage="<question>", hidden=True),
        Command("absurd", absurd, aliases={"fr": ("absurde",)}),
        Command("vote", vote, usage="+1 | -1", cooldown_s=0),
        Command("topjokes", topjokes),
    ]
    if jokes.language == "fr":  # French chat's own words for a vote
        commands += [Command("top", upvote, cooldown_s=0), Command("bof", downvote, cooldown_s=0)]
    return commands
