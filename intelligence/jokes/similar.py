"""A reworded joke is the same joke: jokes are told apart by meaning, not by their exact text.

Each joke gets a signature: its words, stemmed (Snowball) and weighted by how rare they are
(wordfreq), so that "atoms" and "impasta" weigh a lot and "the" nothing; and its answer: what
follows its last question, else its colon, "because" or first sentence. Two jokes are the same
when their words mostly overlap (unless they ask one question and answer it differently), or
when they overlap somewhat and one tells the other's punchline, its rarest word included: a
retold classic keeps its pun, while two jokes on one subject or template differ in theirs.

Every joke belongs to a family: the family of the first known joke it rewords, else its own.
Freshness is kept per family, so a channel never hears a joke again in other words.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import snowballstemmer

from intelligence.words import commonness, zipf

RAREST = 6.5  # a word's weight: how much rarer than "the" it is (zipf 6.5 - its zipf)
MIN_WEIGHT = 0.5  # lighter words ("is", "le") say nothing about which joke it is
SAME_WORDS = 0.6  # weighted overlap of all words that alone makes two jokes one
SOME_WORDS = 0.22  # ... that makes them one if their answers overlap too
SAME_ANSWER = 0.45  # ... of one's answer (by weight) the other must tell to be the same joke
SAME_TEXT = 0.85  # overlap of all words past which answers are not compared (small edits)
OTHER_ANSWER = 0.5  # below it, one setup with another punchline is another joke
MAX_KNOWN = 5000  # jokes compared against, the most recently seen first

_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_WORD = re.compile(r"[^\W\d_]+")
_LAST_QUESTION = re.compile(r".*\?")
_ANSWER_START = re.compile(
    r"[:;…—–]|[.!](?=\s)|\b(?:because|since|parce que|parce qu'|car)\b", re.IGNORECASE
)
_CONNECTIVE = re.compile(r"^\W*(?:because|since|parce que|parce qu'|car)\b", re.IGNORECASE)
_STEMMERS = {"en": snowballstemmer.stemmer("english"), "fr": snowballstemmer.stemmer("french")}


def _words(text: str) -> Iterator[str]:
    """The words of ``text``: "wasn't" is one word, where "wasn" alone would weigh as a rare
    one; an elision ("l'imprimante", "qu'il") gives its words; "Lacoste-garde" is "Lacoste
    garde", and "dino-snore" is also "dinosnore", as another model may write it."""
    for token in _TOKEN.findall(text.lower().replace("’", "'")):
        if "'" in token and commonness(token.replace("-", "")):
            yield token
            continue
        parts = _WORD.findall(token)
        yield from parts
        if "-" in token:
            yield "".join(parts)


@functools.lru_cache(maxsize=50_000)
def _key(word: str) -> str:
    """A word as signatures compare it: its stem ("tocking" and "tocked" are one), in the
    language that uses it more, without accents."""
    language = "en" if zipf(word, "en") >= zipf(word, "fr") else "fr"
    if language == "fr" and word.endswith("ent") and zipf(word[:-2], "fr"):
        word = word[:-2]  # Snowball keeps "tombent" whole, yet stems "tombe"
    stem = _STEMMERS[language].stemWord(word)
    return "".join(c for c in unicodedata.normalize("NFKD", stem) if not unicodedata.combining(c))


def _weighted(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for word in _words(text):
        weight = RAREST - commonness(word)
        if weight > MIN_WEIGHT:
            key = _key(word)
            weights[key] = max(weights.get(key, 0.0), weight)
    return weights


@dataclass(frozen=True, slots=True)
class Signature:
    words: dict[str, float]
    answer: dict[str, float]
    asked: bool  # the answer follows a question: the setup ends where the question does

    @property
    def told(self) -> dict[str, float]:
        """Where this joke may tell another's punchline."""
        return self.answer if self.asked else self.words


def signature(text: str) -> Signature:
    words = _weighted(text)
    body = text.strip().rstrip("?!.… ")
    question = _LAST_QUESTION.match(body)
    start = question or _ANSWER_START.search(body)
    answer = _weighted(_CONNECTIVE.sub("", body[start.end() :])) if start else {}
    if not answer:  # one sentence: its second half carries the punchline
        half = _WORD.findall(text)
        answer = _weighted(" ".join(half[len(half) // 2 :]))
    return Signature(words, answer, question is not None)


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(min(a[k], b[k]) for k in a.keys() & b.keys())


def same_joke(a: Signature, b: Signature) -> bool:
    shared = _overlap(a.words, b.words)
    union = sum(a.words.values()) + sum(b.words.values()) - shared
    similarity = shared / union if union else 1.0
    if similarity < SOME_WORDS:
        return False
    if similarity >= SAME_WORDS:  # unless one question gets another punchline
        if similarity >= SAME_TEXT or not (a.asked and b.asked):
            return True
        smaller = min(sum(a.answer.values()), sum(b.answer.values()))
        return not smaller or _overlap(a.answer, b.answer) / smaller >= OTHER_ANSWER
    # Fewer words in common: the same joke if one tells the other's punchline (in its own
    # answer if it asks a question: a setup's words are not a punchline).
    return max(_contained(a.answer, b.told), _contained(b.answer, a.told)) >= SAME_ANSWER


def _contained(answer: dict[str, float], whole: dict[str, float]) -> float:
    """How much of ``answer`` (by weight) ``whole`` tells too; nothing without its rarest word,
    which is the pun: "De perdre la boule" is not "De perdre le fil"."""
    if not answer or max(answer, key=answer.__getitem__) not in whole:
        return 0.0
    return _overlap(answer, whole) / sum(answer.values())


class Families:
    """The family of each joke seen lately, found by comparing it with the jokes before it."""

    def __init__(self, max_known: int = MAX_KNOWN) -> None:
        self.max_known = max_known
        self._known: OrderedDict[str, tuple[str, Signature]] = OrderedDict()  # key → family

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, key: str, text: str, family: str) -> None:
        """A joke whose family is already decided (an earlier run's, another instance's)."""
        self._known[key] = (family, signature(text))
        self._known.move_to_end(key)
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)

    def family_of(self, key: str, text: str) -> str:
        """The family of the joke ``text`` (whose exact-text key is ``key``)."""
        known = self._known.get(key)
        if known is not None:
            return known[0]
        mine = signature(text)
        family = next(
            (fam for fam, sig in reversed(self._known.values()) if same_joke(mine, sig)), key
        )
        self._known[key] = (family, mine)
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)
        return family
