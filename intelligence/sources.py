"""Where an answer came from: a cache tier, the LLM, the offline fallback, or the bot itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Source(StrEnum):
    L1 = "l1"  # memory, learned answers included
    L2 = "l2"  # Redis, shared by instances
    FUZZY = "fuzzy"  # a guarded near-duplicate of a cached question
    LLM = "llm"  # made for this request (or a request it shared a call with)
    FALLBACK = "fallback"  # offline: no LLM could answer
    LOCAL = "local"  # the bot's own words: help, notices, refusals
    BLOCKED = "blocked"  # the moderation gate refused what was to be said


Tier = Literal[Source.L1, Source.L2, Source.FUZZY]
TIERS: tuple[Tier, ...] = (Source.L1, Source.L2, Source.FUZZY)
