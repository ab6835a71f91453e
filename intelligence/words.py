"""How common a word is, in French and English: wordfreq's frequency lists, which ship inside
its package (nothing is downloaded). Used to tell a typo (a non-word near a word) from another
entity (two real words), to weigh the words two jokes share, and to tell the two languages apart.
"""

from __future__ import annotations

import functools
import math

import wordfreq

LANGUAGES = ("fr", "en")


@functools.cache
def _frequencies(language: str) -> dict[str, float]:
    # The "small" lists (about 30,000 words each) load in tens of milliseconds.
    return wordfreq.get_frequency_dict(language, wordlist="small")


def zipf(word: str, language: str) -> float:
    """log10 of the word's frequency per billion words: 0 for a non-word, 3 for a rare word,
    6 and more for the commonest ("the", "de")."""
    frequency = _frequencies(language).get(word)
    return math.log10(frequency * 1e9) if frequency else 0.0


def commonness(word: str) -> float:
    """The word's zipf in whichever of the two languages uses it more."""
    return max(zipf(word, language) for language in LANGUAGES)


def is_word(word: str) -> bool:
    """A real French or English word (or name): not a typo."""
    return any(word in _frequencies(language) for language in LANGUAGES)


def load() -> None:
    """Read both lists now (the app does it at start-up, so no viewer waits for it)."""
    for language in LANGUAGES:
        _frequencies(language)
