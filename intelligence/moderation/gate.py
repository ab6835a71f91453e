"""The one gate for what the bot says, and for what viewers ask of the LLM.

Layers, cheapest first: the banphrases (always), then a moderation model (when configured).
Verdicts are cached per text, so an answer served again from the cache costs a dictionary
lookup. A block is logged with its reason, counted in the stats and kept in the ``blocked``
table, with the text, for moderators to review.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

from intelligence.moderation.banlist import Banlist
from intelligence.moderation.model import ModerationModel, ModerationUnavailable
from intelligence.stats import Stats
from intelligence.store import Store

log = logging.getLogger(__name__)

MAX_VERDICTS = 20_000
FOREVER = math.inf
LONG_TEXT = 512  # longer texts are cached by their hash, so the cache stays small
_SPACE = re.compile(r"\s+")


class Stage(StrEnum):
    """Where a text met the gate."""

    INPUT = "input"  # a viewer's question, before the LLM sees it
    ANSWER = "answer"  # an LLM answer, before it is cached or learned
    JOKE = "joke"  # an LLM joke, before it joins the pool
    REPLY = "reply"  # anything the bot is about to say
    AUTOMOD = "automod"  # Twitch's AutoMod, about a reply


class Layer(StrEnum):
    BANPHRASE = "banphrase"
    MODEL = "model"
    MODEL_DOWN = "model_down"  # no verdict from the model, and moderation.when_down = block
    PROMPT_LEAK = "prompt_leak"
    AUTOMOD = "automod"


@dataclass(frozen=True, slots=True)
class Verdict:
    layer: Layer
    reason: str  # the phrase, the category, or what went wrong

    def __str__(self) -> str:
        return f"{self.layer}: {self.reason}"


class Blocked(Exception):
    """A text the gate refused, anywhere on the way to chat."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(str(verdict))
        self.verdict = verdict


@dataclass(frozen=True, slots=True)
class Where:
    """Who the blocked text was for, for the log and the moderators' review."""

    platform: str = ""
    channel: str = ""
    user_id: str = ""


class Gate:
    def __init__(
        self,
        *,
        banlist: Banlist,
        model: ModerationModel | None,
        stats: Stats,
        store: Store,
        block_when_down: bool = True,
        cache_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.banlist = banlist
        self.model = model
        self.stats = stats
        self.store = store
        self.block_when_down = block_when_down
        self.cache_s = cache_s
        self._clock = clock
        # text (or its hash) → (verdict, until when it holds). A plain dict, emptied when full:
        # this lookup is on the path of every reply, where cachetools' TTLCache costs 10x more.
        self._verdicts: dict[str, tuple[Verdict | None, float]] = {}
        self._index = banlist.index  # the verdicts above were given with these phrases

    async def check(self, text: str) -> Verdict | None:
        """Why ``text`` must not be said, or None when it may be."""
        if self._index is not self.banlist.index:  # a moderator changed the list
            self._verdicts.clear()
            self._index = self.banlist.index
        key = text if len(text) <= LONG_TEXT else hashlib.blake2b(text.encode()).hexdigest()
        known = self._verdicts.get(key)
        if known is not None and (known[1] == FOREVER or known[1] > self._clock()):
            return known[0]
        verdict = self.quick(text)
        if verdict is None and self.model is not None:
            try:
                category = await self.model.flagged(text)
            except ModerationUnavailable as exc:
                log.warning("moderation model: %s", exc)
                self.stats.record_moderation_error()
                return Verdict(Layer.MODEL_DOWN, str(exc)) if self.block_when_down else None
            verdict = Verdict(Layer.MODEL, category) if category else None
        if len(self._verdicts) >= MAX_VERDICTS:
            self._verdicts.clear()
        # The banphrases' verdict holds until the list changes; the model's, cache_s.
        until = FOREVER if self.model is None else self._clock() + self.cache_s
        self._verdicts[key] = (verdict, until)
        return verdict

    def quick(self, text: str) -> Verdict | None:
        """The banphrases alone: no waiting, for text that is still arriving."""
        phrase = self.banlist.find(text)
        return Verdict(Layer.BANPHRASE, phrase) if phrase is not None else None

    async def screen(
        self, text: str, stage: Stage, where: Callable[[], Where] = Where
    ) -> Verdict | None:
        """``check``, with a block recorded (``where``: who it was for, asked only then)."""
        verdict = await self.check(text)
        if verdict is not None:
            self.record(verdict, stage, text, where())
        return verdict

    def record(self, verdict: Verdict, stage: Stage, text: str, where: Where = Where()) -> None:
        self.stats.record_block(stage, verdict.layer)
        log.warning(
            "gate: blocked at %s (%s) for %s %s %s: %.60r",
            stage,
            verdict,
            where.platform or "-",
            where.channel or "-",
            where.user_id or "-",
            text,
        )
        self.store.write(
            "INSERT INTO blocked (at, platform, channel, user_id, stage, layer, reason, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                where.platform,
                where.channel,
                where.user_id,
                str(stage),
                str(verdict.layer),
                verdict.reason,
                text[:2000],
            ),
        )

    async def screen_stream(
        self,
        pieces: AsyncIterator[str],
        stage: Stage,
        on_block: Callable[[Verdict], None],
        where: Where = Where(),
    ) -> AsyncIterator[str]:
        """Pass on a stream as it arrives, a few words behind, so that no banphrase is ever
        shown in part; on a block, stop and call ``on_block``. With a moderation model, the
        whole answer is checked before any of it is shown."""
        seen, sent = "", 0
        hold = self.banlist.index.longest
        try:
            async for piece in pieces:
                seen += piece
                verdict = self.quick(seen)
                if verdict is not None:
                    self.record(verdict, stage, seen, where)
                    on_block(verdict)
                    return
                if self.model is None:
                    safe = _before_last_words(seen, hold)
                    if safe > sent:
                        yield seen[sent:safe]
                        sent = safe
        except Blocked as exc:  # an earlier layer (the prompt-leak check) refused it
            self.record(exc.verdict, stage, seen, where)
            on_block(exc.verdict)
            return
        verdict = await self.check(seen)
        if verdict is not None:
            self.record(verdict, stage, seen, where)
            on_block(verdict)
            return
        if sent < len(seen):
            yield seen[sent:]


def _before_last_words(text: str, words: int) -> int:
    """Where the last ``words`` words of ``text`` start (a word still arriving counts)."""
    cuts = [m.start() for m in _SPACE.finditer(text)]
    if text and not text[-1].isspace():
        cuts.append(len(text))
    return cuts[-words - 1] if len(cuts) > words else 0
