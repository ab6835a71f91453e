"""Viewer commands: !joke, !ask (and mentions), !absurd, !vote (!top / !bof), !topjokes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from commands.definition import Arg, Component, Context, command
from commands.output import where_of
from commands.texts import text
from commands.types import Reply
from intelligence.answers import Answer
from intelligence.ask import AskService
from intelligence.jokes import JokeService
from intelligence.moderation import Gate, Stage
from intelligence.prompts import Tone
from intelligence.resilience import NoBackendAvailable
from intelligence.sources import Source

_VOTE = re.compile(r"^([+-]?1|\+|-|up|down)(?:\s+#?([0-9a-f]{12}))?$", re.IGNORECASE)
FRENCH = frozenset({"fr"})
QUESTION = Arg("question", {"en": "Your question", "fr": "Ta question"})


def viewer_key(ctx: Context) -> str:
    """A viewer's stable identity: the platform's user id, never the display name."""
    return f"{ctx.message.platform}:{ctx.message.user_id}"


def session_key(ctx: Context) -> str:
    """Whose history a turn belongs to: the platform's conversation, else the viewer."""
    conversation = ctx.message.conversation_id
    return f"{ctx.message.platform}:conv:{conversation}" if conversation else viewer_key(ctx)


def as_reply(answer: Answer) -> Reply:
    """A Reply that learns what the answer cost when its stream ends (for the chat log)."""
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
    cost = answer.cost
    return cost.prompt_tokens, cost.completion_tokens


class Fun(Component):
    def __init__(self, jokes: JokeService, ask: AskService, gate: Gate) -> None:
        self.jokes = jokes
        self.ask_service = ask
        self.gate = gate

    @command(
        "joke",
        aliases={"fr": ("blague",)},
        description={
            "en": "A joke you have not heard yet",
            "fr": "Une blague que tu n'as pas encore entendue",
        },
    )
    async def joke(self, ctx: Context) -> Reply:
        channel = f"{ctx.message.platform}:{ctx.message.channel}"
        result = await self.jokes.next_for(viewer_key(ctx), channel)
        return Reply(result.text, source=result.source, joke_id=result.key)

    @command(
        "ask",
        description={"en": "Ask quipbot a question", "fr": "Pose une question à quipbot"},
        args=(QUESTION,),
        slow=True,
    )
    async def ask(self, ctx: Context) -> Reply:
        return await self._answer(ctx, Tone.ASK)

    # "@bot question" on a platform: like !ask, friendlier, with its own cooldown.
    @command("mention", args=(QUESTION,), hidden=True, slow=True)
    async def mention(self, ctx: Context) -> Reply:
        return await self._answer(ctx, Tone.MENTION)

    async def _answer(self, ctx: Context, tone: Tone) -> Reply:
        # What the LLM would be asked passes the gate first: a refusal costs no LLM call.
        if await self.gate.screen(ctx.args, Stage.INPUT, lambda: where_of(ctx.message)) is not None:
            return Reply(text(ctx.language, "blocked"), source=Source.BLOCKED)
        try:
            answer = await self.ask_service.answer(
                ctx.args,
                tone=tone,
                session=session_key(ctx),
                conversation=ctx.message.conversation_id is not None,
            )
        except NoBackendAvailable:
            return Reply(text(ctx.language, "ai_resting"), source=Source.FALLBACK)
        return as_reply(answer)

    @command(
        "absurd",
        aliases={"fr": ("absurde",)},
        description={"en": "Something absurd", "fr": "Quelque chose d'absurde"},
        args=(
            Arg(
                "text",
                {"en": "Anything (optional)", "fr": "N'importe quoi (facultatif)"},
                required=False,
            ),
        ),
    )
    async def absurd(self, ctx: Context) -> Reply:
        return as_reply(await self.ask_service.absurd(ctx.args, session=session_key(ctx)))

    @command(
        "vote",
        description={
            "en": "Vote for a joke (your last one unless you give its id)",
            "fr": "Vote pour une blague (ta dernière, sauf si tu donnes son identifiant)",
        },
        args=(
            Arg(
                "vote",
                {"en": "👍 or 👎", "fr": "👍 ou 👎"},
                choices=(("+1", "👍 +1"), ("-1", "👎 -1")),
            ),
            Arg(
                "joke",
                {
                    "en": "The joke's id, as in #1a2b3c4d5e6f",
                    "fr": "L'identifiant de la blague, comme #1a2b3c4d5e6f",
                },
                required=False,
                max_chars=20,
            ),
        ),
        cooldown_s=0,
    )
    async def vote(self, ctx: Context) -> Reply:
        match = _VOTE.match(ctx.args.strip())
        if match is None:
            return ctx.usage()
        value = -1 if match.group(1).lower() in ("-1", "-", "down") else 1
        return await self._vote(ctx, value, match.group(2) and match.group(2).lower())

    @command(
        "top",
        description={"fr": "+1 pour ta dernière blague"},
        cooldown_s=0,
        languages=FRENCH,
        menu=False,
    )
    async def upvote(self, ctx: Context) -> Reply:
        return await self._vote(ctx, 1, None)

    @command(
        "bof",
        description={"fr": "-1 pour ta dernière blague"},
        cooldown_s=0,
        languages=FRENCH,
        menu=False,
    )
    async def downvote(self, ctx: Context) -> Reply:
        return await self._vote(ctx, -1, None)

    async def _vote(self, ctx: Context, value: int, key: str | None) -> Reply:
        result = await self.jokes.vote(viewer_key(ctx), value, key)
        if result is None:
            return Reply(text(ctx.language, "vote_nothing", user=ctx.message.user_name))
        key_name = "vote_retired" if result.retired else "vote_counted"
        return Reply(text(ctx.language, key_name, user=ctx.message.user_name, score=result.score))

    @command(
        "topjokes",
        description={"en": "The best-voted jokes", "fr": "Les blagues les mieux notées"},
    )
    async def topjokes(self, ctx: Context) -> Reply:
        best = await self.jokes.top(3)
        if not best:
            return Reply(text(ctx.language, "top_empty"))
        return Reply(
            " · ".join(f"{i}. {joke} (+{score})" for i, (joke, score) in enumerate(best, 1))
        )
