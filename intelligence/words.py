"""How common a word is, in French and English: wordfreq's frequency lists, which ship inside
its package (nothing is downloaded). Used to tell a typo (a non-word near a word) from another
entity (two real words), to weigh the words two jokes share, and to tell the two languages apart.
"""

from __future__ import annotations

import functools
import gzip
import math
from importlib import resources

import msgpack
import wordfreq

LANGUAGES = ("fr", "en")
# A real word is seen at least 0.3 times per million words (zipf 2.5): "toffee" and "pâtés" are,
# "capitle" and "poter" are not. Common misspellings ("recieve") count as words: a missed reuse,
# never a wrong answer.
REAL_WORD_ZIPF = 2.5


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
    """A real French or English word (or name), as spelled (accents count): not a typo."""
    return word in _real_words()


@functools.cache
def _real_words() -> frozenset[str]:
    # The large lists hold rarer words than the small ones. Their file (wordfreq's "cBpack") is a
    # header, then one list of words per centibel of frequency, the commonest first: reading
    # stops at the threshold, so the long tail (and its memory) is never decoded.
    last_bucket = round((9 - REAL_WORD_ZIPF) * 100)
    words: set[str] = set()
    for language in LANGUAGES:
        path = resources.files("wordfreq") / "data" / f"large_{language}.msgpack.gz"
        with path.open("rb") as packed, gzip.open(packed) as data:
            unpacker = msgpack.Unpacker(data, raw=False)
            unpacker.read_array_header()
            next(unpacker)  # the header: {"format": "cB", "version": 1}
            for centibels, bucket in enumerate(unpacker):
                if centibels > last_bucket:
                    break
                words.update(bucket)
    return frozenset(words)


def load() -> None:
    """Read the lists now (the app does it at start-up, so no viewer waits for it)."""
    for language in LANGUAGES:
        _frequencies(language)
    _real_words()
