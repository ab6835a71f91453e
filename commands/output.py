"""The last step of every reply, on every platform: the moderation gate, and the length of a
chat answer. A reply the gate refuses becomes one short neutral line; an empty one, a line that
says there is nothing to say. A stream is passed on a few words behind, and stopped when the gate
refuses it: ``reply.blocked`` then tells the platform to replace what it showed by ``reply.text``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from commands.texts import text
from commands.types import ChatMessage, Reply
from intelligence.moderation import Gate, Stage, Verdict, Where
from intelligence.sources import Source

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


def where_of(message: ChatMessage) -> Where:
    return Where(message.platform, message.channel, message.user_id)


def capped(answer: str, limit: int) -> str:
    """At most ``limit`` characters: whole sentences if one ends past half the limit, else whole
    words and an ellipsis."""
    if len(answer) <= limit:
        return answer
    head = answer[: limit + 1]
    # ``head`` has one character more, to see whether a sentence ends right at the limit.
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if limit // 2 <= m.end() <= limit]
    if ends:
        return head[: ends[-1]]
    cut = head.rfind(" ", 0, limit)
    return head[: cut if cut > 0 else limit - 1].rstrip(" ,;:") + ELLIPSIS


class Output:
    def __init__(self, gate: Gate, *, language: str, max_answer_chars: int) -> None:
        self.gate = gate
        self.language = language
        self.max_answer_chars = max_answer_chars

    def refusal(self) -> Reply:
        return Reply(text(self.language, "blocked"), source=Source.BLOCKED)

    async def screen(self, reply: Reply, message: ChatMessage) -> Reply:
        """The reply as it may be said."""
        if reply.stream is not None:
            reply.stream = self._screened(reply, reply.stream, where_of(message))
            return reply
        said = reply.text.strip()
        if not said:
            return Reply(text(self.language, "empty"))
        if await self.gate.screen(said, Stage.REPLY, lambda: where_of(message)) is not None:
            return self.refusal()
        if reply.source not in (Source.LOCAL, Source.BLOCKED):  # a chat answer, not an essay
            said = capped(said, self.max_answer_chars)
        reply.text = said
        return reply

    async def _screened(
        self, reply: Reply, pieces: AsyncIterator[str], where: Where
    ) -> AsyncIterator[str]:
        def refuse(verdict: Verdict) -> None:
            reply.blocked = True
            reply.text = text(self.language, "blocked")

        if reply.text:  # a reply may start with text and go on as a stream
            head, reply.text = reply.text, ""
            pieces = _after(head, pieces)
        shown = ""
        async for piece in self.gate.screen_stream(pieces, Stage.REPLY, refuse, where):
            if len(shown) + len(piece) > self.max_answer_chars:  # the best cut of the whole
                whole = capped(shown + piece, self.max_answer_chars)
                if whole.startswith(shown):
                    yield whole[len(shown) :]
                elif whole.rstrip() != shown.rstrip():  # shown went past the cut: say so
                    yield ELLIPSIS
                return
            shown += piece
            yield piece
        if not shown.strip() and not reply.blocked:
            yield text(self.language, "empty")


async def _after(head: str, pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    yield head
    async for piece in pieces:
        yield piece
