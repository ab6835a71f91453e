"""Banphrases: words and phrases the bot never says, found however they are disguised.

Text is folded before matching: case, accents, full-width and look-alike letters (Cyrillic
"о" in "cоnnard"), invisible characters (a zero-width space or a soft hyphen inside a word),
leetspeak (``sh1t``, ``@sshole``, ``k!ll``), masked letters (``f*ck``), spaced letters
(``f u c k``, ``s.a.l.o.p.e``) and repeated letters (``fuuuuck``). A phrase matches only as
whole words, so "Scunthorpe", "classique" or "pique-nique" never do.

The default lists (``lists/fr.txt``, ``lists/en.txt``) hold insults, slurs, self-harm
incitement, sexual content and threats; moderators add the channel's own with ``!banphrase``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

LANGUAGES = ("fr", "en")

# Look-alike letters that NFKD does not turn into Latin ones.
_LOOK_ALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ɑ": "a", "α": "a", "β": "b", "ε": "e", "ι": "i",
        "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ß": "ss",
        "€": "e",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "@": "a", "$": "s", "!": "i"})  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9@$!*]+")
# Letters spelled one by one with the same separator: "f u c k", "s.a.l.o.p.e", "p-u-t-e".
_SPACED = re.compile(
    r"(?<![a-z0-9@$*])[a-z0-9@$*]([ ._-]{1,3})(?:[a-z0-9@$*]\1)+[a-z0-9@$*](?![a-z0-9@$*])"
)
_ONE_LETTER_WORDS = frozenset("aiyo")  # "a t o s s e r": the run may start with a real word
_RUNS = re.compile(r"(.)\1+")


def fold(text: str) -> str:
    """Lower-case ASCII: accents, full-width forms, look-alikes and invisible characters gone,
    and letters spelled one by one joined into their word."""
    if text.isascii():
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKD", text.lower().translate(_LOOK_ALIKES))
        text = text.encode("ascii", "ignore").decode()
    if _SPACED.search(text) is not None:
        text = _SPACED.sub(_joined, text)
    return text


def _joined(run: re.Match[str]) -> str:
    word = run.group().replace(run.group(1), "")
    if word[0] in _ONE_LETTER_WORDS:  # both readings: "asshole", and "a" then "tosser"
        return f"{word} {word[0]} {word[1:]}"
    return word


@functools.lru_cache(maxsize=100_000)
def _word(raw: str) -> tuple[str, str]:
    """One raw token as (the word, its key): leetspeak decoded when the token has a letter,
    and the key with repeated letters collapsed ("fuuuck" → "fuck")."""
    word = raw.strip("!")
    if any("a" <= ch <= "z" for ch in word):
        word = word.translate(_LEET)
    return word, _RUNS.sub(r"\1", word)


def words_of(text: str) -> list[tuple[str, str]]:
    """The words of ``text`` as the matcher reads them, each with its key."""
    return [_word(raw) for raw in _TOKEN.findall(fold(text))]


def _stretchable(word: str) -> re.Pattern[str]:
    """``word`` with each letter repeatable: "fuck" also matches "fuuuuck", not "fck"."""
    return re.compile("".join(f"{re.escape(ch)}+" for ch in word))


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str  # as written in the list
    keys: tuple[str, ...]
    words: tuple[re.Pattern[str], ...]

    def matches(self, found: list[tuple[str, str]], start: int) -> bool:
        span = found[start : start + len(self.keys)]
        return tuple(key for _, key in span) == self.keys and all(
            pattern.fullmatch(word) for pattern, (word, _) in zip(self.words, span, strict=True)
        )


class BanphraseIndex:
    """Phrases indexed by the key of their first word, so that a message costs about one
    dictionary lookup per word."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases: list[str] = []
        self._by_first: dict[str, list[_Phrase]] = {}
        self._single: list[tuple[str, _Phrase]] = []  # one-word phrases, for masked words
        self.longest = 1  # words in the longest phrase
        for phrase in phrases:
            self._add(phrase)

    def _add(self, phrase: str) -> None:
        found = words_of(phrase)
        if not found:
            return
        self.phrases.append(phrase)
        words = [word for word, _ in found]
        self.longest = max(self.longest, len(words))
        variants = [words] if len(words) == 1 else [words, ["".join(words)]]  # "killyourself"
        for variant in variants:
            keys = tuple(_word(word)[1] for word in variant)
            entry = _Phrase(phrase, keys, tuple(_stretchable(word) for word in variant))
            self._by_first.setdefault(keys[0], []).append(entry)
            if len(variant) == 1:
                self._single.append((variant[0], entry))

    def find(self, text: str) -> str | None:
        """The first phrase ``text`` contains, as written in the list, or None."""
        found = words_of(text)
        by_first = self._by_first
        for i, (word, key) in enumerate(found):
            for phrase in by_first.get(key, ()):
                if phrase.matches(found, i):
                    return phrase.text
            if word.endswith("s") and len(word) > 3:  # plurals: "pédés", "gouines"
                singular = [_word(word[:-1])]
                for phrase in by_first.get(singular[0][1], ()):
                    if phrase.matches(singular, 0):
                        return phrase.text
            if "*" in word:
                masked = self._masked(word)
                if masked is not None:
                    return masked
        return None

    def _masked(self, word: str) -> str | None:
        """A word with letters masked by "*" ("f*ck", "p*te") against every one-word phrase."""
        if not word.strip("*"):
            return None
        pattern = re.compile("".join("[a-z]" if ch == "*" else re.escape(ch) for ch in word))
        for banned, phrase in self._single:
            if pattern.fullmatch(banned):
                return phrase.text
        return None


def default_phrases() -> list[str]:
    """The built-in lists of every language: a French chat still hears English slurs."""
    found = []
    for language in LANGUAGES:
        listing = resources.files(__package__).joinpath("lists", f"{language}.txt")
        for line in listing.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found
