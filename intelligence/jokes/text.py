"""Turning what an LLM wrote into chat-ready jokes: one joke each, the right language, no
preamble ("Voici une blague :"), no numbering, no commands, no mentions, not too long."""

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
_QUOTES = "\"'«»“”„ "

_MARKERS = {
    "fr": frozenset(
        "le la les un une des est pourquoi qui que et du pas c ce il elle quoi "
        "dans sur avec pour mais parce quel quelle".split()
    ),
    "en": frozenset(
        "the a an is why what and of to you it he she in on with for but because "
        "did does who how".split()
    ),
}


def joke_key(text: str) -> str:
    """The joke's identity on every instance: a hash of its folded text."""
    return hashlib.blake2b(fold(text).encode(), digest_size=6).hexdigest()


def looks_like(language: str, text: str) -> bool:
    words = fold(text).split()
    own = sum(w in _MARKERS[language] for w in words)
    other = sum(
        w in markers for lang, markers in _MARKERS.items() if lang != language for w in words
    )
    return own >= other


def clean_joke(raw: str, language: str, sanitiser: Sanitiser) -> str | None:
    """One chat-ready joke from one line or block of LLM text, or None if it is unusable."""
    text = _PREAMBLE.sub("", raw)
    text = _LABEL.sub("", _BULLET.sub("", text))
    text = sanitiser.clean(" ".join(text.split())).strip(_QUOTES)
    text = text.strip()
    if not (MIN_CHARS <= len(text) <= MAX_CHARS) or not looks_like(language, text):
        return None
    return text


def split_jokes(raw: str, language: str, sanitiser: Sanitiser) -> list[str]:
    """The jokes of a batch answer: one per line (or per paragraph), cleaned, deduplicated."""
    blocks = re.split(r"\n\s*\n", raw.strip()) if "\n\n" in raw.strip() else raw.splitlines()
    jokes: dict[str, str] = {}
    for block in blocks:
        joke = clean_joke(block, language, sanitiser)
        if joke is not None:
            jokes.setdefault(joke_key(joke), joke)
    return list(jokes.values())
