"""Guarded fuzzy matching of questions: reuse an answer for a paraphrase, never for a near-miss.

rapidfuzz's WRatio, token_set_ratio and partial_ratio score 95-100 on pairs that mean different
things, so the score here is plain ``fuzz.ratio`` on text reduced to its content words. Guards
then reject what a score cannot see: other numbers, a negation, a different content word, a
question too short to judge, or one whose answer changes with time.

Two content words that differ are a typo only when one of them is not a real word: "capitle" is
"capital" mistyped, but "austria" and "australia", "alien" and "aliens", "désert" and "dessert" are
other things, whose answers differ (``words.is_word``, French and English).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from intelligence.words import is_word

log = logging.getLogger(__name__)

# Words that carry no meaning for the answer: articles, politeness, "tell me", "what is", bot names.
FILLER = frozenset(
    """
    a an the of to in on at for is are was be it its this that these those do does did can could
    would will should please pls plz hey hi hello yo ok okay so well just really quick quickly
    tell me us explain say give know i you we my your our what whats which thing things about
    bot quip some any there here guys chat again
    le la les l un une des du de d au aux en et est sont c ce cet cette ces ca ça se s y a
    stp svp sil plait merci salut coucou bonjour dis moi nous explique donne sais tu vous je
    j m t mon ma mes ton ta tes quoi quel quelle quels quelles qu que il elle ils elles on
    truc chose encore eh bah ben alors donc bref
    """.split()
)

NEGATIONS = frozenset(
    "not no never without nor none nothing neither nobody cannot "
    "ne n pas jamais sans aucun aucune rien ni non personne".split()
)

# The answer depends on when it is asked: never reuse one for a merely similar question.
TIME_WORDS = frozenset(
    """
    today tonight now currently current latest recent recently yesterday tomorrow live news
    weather score scores price prices update updates week weekend
    aujourd hui maintenant actuel actuelle actuellement dernier derniere dernieres derniers
    recente hier demain soir meteo direct prix semaine
    """.split()
)

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NOT_WORD = re.compile(r"[^\w]+")
_CONTRACTIONS = [(re.compile(r"n['’]t\b"), " not"), (re.compile(r"['’]"), " ")]

MIN_CORE_CHARS = 10  # below this, only an exact match is safe
WORD_SIMILARITY = 80  # two content words are "the same" (a typo) at or above this ratio
CANDIDATES = 5  # best-scoring prompts checked against the guards


def fold(text: str) -> str:
    """Casefold, strip accents, expand n't, keep letters and digits."""
    text = text.casefold()
    if not text.isascii():
        text = text.translate(_UNACCENTED)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


class _Unaccent(dict[int, str]):
    """A ``str.translate`` table: each character without its accents (NFKD, combining marks
    dropped), worked out once per character (the loop then runs in C)."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code))
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        if len(self) < MAX_UNACCENTED:
            self[code] = plain
        return plain


MAX_UNACCENTED = 20_000  # characters remembered: a flood of rare ones cannot grow it further
_UNACCENTED = _Unaccent()


def _spelled(text: str) -> list[str]:
    """The words as written: casefolded, n't expanded, accents kept."""
    text = text.casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))  # stray marks (zalgo)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return _NOT_WORD.sub(" ", text).split()


def _unaccented(word: str) -> str:
    return word if word.isascii() else word.translate(_UNACCENTED)


@dataclass(frozen=True, slots=True)
class Question:
    core: str  # the content words, in order: what the score compares
    words: tuple[str, ...]  # the content words, without accents
    spelled: tuple[str, ...]  # the same words as written, accents kept
    numbers: tuple[str, ...]
    negations: frozenset[str]
    time_sensitive: bool

    @property
    def fuzzy_ok(self) -> bool:
        return len(self.core) >= MIN_CORE_CHARS and not self.time_sensitive


def analyse(text: str) -> Question:
    spelled = _spelled(text)
    tokens = [_unaccented(word) for word in spelled]
    content = [(t, s) for t, s in zip(tokens, spelled, strict=True) if t not in FILLER]
    words = tuple(t for t, _ in content)
    negations = frozenset(t for t in tokens if t in NEGATIONS)
    numbers = tuple(n.replace(",", ".") for n in _NUMBER.findall(" ".join(tokens)))
    time_sensitive = any(t in TIME_WORDS for t in tokens)
    return Question(
        " ".join(words), words, tuple(s for _, s in content), numbers, negations, time_sensitive
    )


def same_meaning(a: Question, b: Question) -> bool:
    """The guards: same numbers in the same order, same negations, and the same content words
    in the same order ("dog bites man" is not "man bites dog"), allowing typos in long words."""
    if a.numbers != b.numbers or a.negations != b.negations or len(a.words) != len(b.words):
        return False
    return all(
        _same_word(*pair) for pair in zip(a.words, b.words, a.spelled, b.spelled, strict=True)
    )


def _same_word(x: str, y: str, spelled_x: str, spelled_y: str) -> bool:
    if spelled_x == spelled_y:
        return True
    if x == y:  # only the accents differ: left out ("pates") is a typo, "pâtes"/"pâtés" two words
        return spelled_x == x or spelled_y == y or not (is_word(spelled_x) and is_word(spelled_y))
    if is_word(spelled_x) and is_word(spelled_y):
        return False  # two real words: two things
    # A non-word one slip away from a word (a letter more, less, changed, or two swapped), or
    # close to a long one, is that word mistyped.
    shortest = min(len(x), len(y))
    return (shortest >= 3 and OSA.distance(x, y) <= 1) or (
        shortest >= 5 and fuzz.ratio(x, y) >= WORD_SIMILARITY
    )


@dataclass(frozen=True, slots=True)
class FuzzyMatch:
    key: str
    prompt: str
    score: float


class FuzzyIndex:
    """Recent prompts per namespace (command, model, persona, language, scope), bounded."""

    def __init__(self, threshold: float, max_per_namespace: int = 10_000) -> None:
        self.threshold = threshold
        self.max_per_namespace = max_per_namespace
        # namespace → key → (prompt, analysed question); insertion order = recency
        self._entries: dict[str, OrderedDict[str, tuple[str, Question]]] = {}
        self._cores: dict[str, dict[str, str]] = {}  # namespace → key → core (rapidfuzz choices)

    def __len__(self) -> int:
        return sum(len(e) for e in self._entries.values())

    def add(self, namespace: str, key: str, prompt: str) -> None:
        question = analyse(prompt)
        if not question.fuzzy_ok:
            return
        entries = self._entries.setdefault(namespace, OrderedDict())
        cores = self._cores.setdefault(namespace, {})
        entries[key] = (prompt, question)
        entries.move_to_end(key)
        cores[key] = question.core
        while len(entries) > self.max_per_namespace:
            old, _ = entries.popitem(last=False)
            del cores[old]

    def discard(self, namespace: str, key: str) -> None:
        entries = self._entries.get(namespace)
        if entries is not None and entries.pop(key, None) is not None:
            del self._cores[namespace][key]

    def clear(self) -> None:
        self._entries.clear()
        self._cores.clear()

    def find(
        self, namespace: str, prompt: str, question: Question | None = None
    ) -> FuzzyMatch | None:
        """The best guarded match of ``prompt`` (``question``: its analysis, if known)."""
        cores = self._cores.get(namespace)
        question = question or analyse(prompt)
        if not cores or not question.fuzzy_ok:
            return None
        candidates = process.extract(
            question.core,
            cores,
            scorer=fuzz.ratio,
            score_cutoff=self.threshold,
            limit=CANDIDATES,
        )
        entries = self._entries[namespace]
        for _core, score, key in candidates:
            matched_prompt, matched = entries[key]
            if same_meaning(question, matched):
                log.info("fuzzy hit %.1f: %r matched %r", score, prompt, matched_prompt)
                return FuzzyMatch(key, matched_prompt, score)
        return None
