"""Turning what an LLM wrote into chat-ready jokes: one joke each, no preamble ("Voici une
blague :"), no numbering, no commands, no mentions, not too long. Whether a block is a joke at
all is ``quality``'s call."""

from __future__ import annotations

import hashlib
import re

from intelligence.fuzzy import fold
from intelligence.safety import Sanitiser

MIN_CHARS = 15
MAX_CHARS = 300

_PREAMBLE = re.compile(
    r"^\s*(?:(?:voici|voilà|voila|here'?s|here is|here are|sure|bien sûr|bien sur|ok(?:ay)?|"
    r"d'accord|of course|absolutely)\b[^:\n]*[:!.]\s*)+",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^\s*(?:blague|joke|style)\s*(?:n°|#)?\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:\d+\s*[.)\]:-]|[-*•–—])\s*")
_WRAPPED = re.compile(r'["«“„]([^"«»“”„]*)["»”]')


def joke_key(text: str) -> str:
    """The joke's exact identity on every instance: a hash of its folded text."""
    return hashlib.blake2b(fold(text).encode(), digest_size=6).hexdigest()


def blocks(raw: str) -> list[str]:
    """The jokes of a batch answer as the model wrote them: one per line (or per paragraph),
    without list markers, and without a line that only introduces them ("Voici des blagues :")."""
    parts = re.split(r"\n\s*\n", raw.strip()) if "\n\n" in raw.strip() else raw.splitlines()
    found = []
    for part in parts:
        block = _LABEL.sub("", _BULLET.sub("", part)).strip()
        if block and _PREAMBLE.sub("", block).strip():
            found.append(block)
    return found


def clean_joke(block: str, sanitiser: Sanitiser) -> str | None:
    """One chat-ready joke from one block the quality gate passed, or None if too short or long."""
    text = sanitiser.clean(" ".join(_PREAMBLE.sub("", block).split())).strip()
    # Quotes around the whole joke go; one at an end alone closes a line of dialogue and stays.
    wrapped = _WRAPPED.fullmatch(text)
    if wrapped:
        text = wrapped.group(1).strip()
    return text if MIN_CHARS <= len(text) <= MAX_CHARS else None
