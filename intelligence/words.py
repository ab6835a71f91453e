"""How common a word is, in French and English: wordfreq's frequency lists, which ship inside
its package (nothing is downloaded). Used to tell a typo (a non-word near a word) from another
entity (two real words), to weigh the words two jokes share, and to tell the two languages apart.

The lists are read straight from the package's data files (wordfreq's "cBpack": a header, then
one list of words per centibel of frequency, the commonest first). Importing wordfreq itself
would load langcodes, ftfy and regex, a tenth of a second and megabytes at every start, for
nothing this module needs.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path

import msgpack

LANGUAGES = ("fr", "en")
# A real word is seen at least 0.3 times per million words (zipf 2.5): "toffee" and "pâtés" are,
# "capitle" and "poter" are not. Common misspellings ("recieve") count as words: a missed reuse,
# never a wrong answer.
REAL_WORD_ZIPF = 2.5


def _buckets(wordlist: str) -> Iterator[tuple[float, list[str]]]:
    """(zipf, words) of one of wordfreq's lists, the commonest first."""
    spec = importlib.util.find_spec("wordfreq")
    assert spec is not None and spec.submodule_search_locations, "wordfreq is not installed"
    path = Path(spec.submodule_search_locations[0]) / "data" / f"{wordlist}.msgpack.gz"
    with gzip.open(path) as data:
        unpacker = msgpack.Unpacker(data, raw=False)
        unpacker.read_array_header()
        if next(unpacker) != {"format": "cB", "version": 1}:
            raise RuntimeError(f"{path}: not a wordfreq list this version can read")
        for centibels, bucket in enumerate(unpacker):
            # As wordfreq computes it: the frequency first, then its zipf.
            yield math.log10(10 ** (-centibels / 100) * 1e9), bucket


@functools.cache
def _zipfs(language: str) -> dict[str, float]:
    # The "small" lists (about 30,000 words each) load in tens of milliseconds.
    return {word: value for value, bucket in _buckets(f"small_{language}") for word in bucket}


def zipf(word: str, language: str) -> float:
    """log10 of the word's frequency per billion words: 0 for a non-word, 3 for a rare word,
    6 and more for the commonest ("the", "de")."""
    return _zipfs(language).get(word, 0.0)


def commonness(word: str) -> float:
    """The word's zipf in whichever of the two languages uses it more."""
    return max(zipf(word, language) for language in LANGUAGES)


def is_word(word: str) -> bool:
    """A real French or English word (or name), as spelled (accents count): not a typo."""
    return word in _real_words()


@functools.cache
def _real_words() -> frozenset[str]:
    # The large lists hold rarer words than the small ones; reading stops at the threshold, so
    # the long tail (and its memory) is never decoded.
    words: set[str] = set()
    for language in LANGUAGES:
        for value, bucket in _buckets(f"large_{language}"):
            if value < REAL_WORD_ZIPF:
                break
            words.update(bucket)
    return frozenset(words)


def load() -> None:
    """Read the lists now (the app does it at start-up, so no viewer waits for it)."""
    for language in LANGUAGES:
        _zipfs(language)
    _real_words()
