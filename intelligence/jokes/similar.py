"""A reworded joke is the same joke: jokes are told apart by meaning, not by their exact text.

Each joke gets a signature: its words weighted by how rare they are (wordfreq), so that "atoms"
and "impasta" weigh a lot and "the" nothing. Two jokes are the same when their words mostly
overlap, or when they overlap somewhat and the answers (the part after the question, the colon
or the first sentence) share their words: a retold classic keeps its punchline, while two jokes
on one setup ("Why did the chicken cross the road?") differ in theirs.

Every joke belongs to a family: the family of the first known joke it rewords, else its own.
Freshness is kept per family, so a channel never hears a joke again in other words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from intelligence.words import commonness

RAREST = 6.5  # a word's weight: how much rarer than "the" it is (zipf 6.5 - its zipf)
MIN_WEIGHT = 0.5  # lighter words ("is", "le") say nothing about which joke it is
SAME_WORDS = 0.6  # weighted overlap of all words that alone makes two jokes one
SOME_WORDS = 0.22  # ... that makes them one if their answers overlap too
SAME_ANSWER = 0.65  # the answers' overlap, as a share of the smaller answer
SAME_TEXT = 0.85  # overlap of all words past which answers are not compared (small edits)
OTHER_ANSWER = 0.5  # below it, one setup with another punchline is another joke
MAX_KNOWN = 5000  # jokes compared against, the most recently seen first

_WORD = re.compile(r"[^\W\d_]+")
_APOSTROPHE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)+")
_COMPOUND = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_LAST_QUESTION = re.compile(r".*\?")
_ANSWER_START = re.compile(r"[:…]|[.!](?=\s)")


def _key(word: str) -> str:
    """A word as signatures compare it: no accents, no plural ending."""
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word[:-1] if len(word) > 3 and word[-1] in "sx" else word


def _contraction(match: re.Match[str]) -> str:
    """ "wasn't" stays one common word, where "wasn" alone would weigh as a rare one; an
    elision ("l'imprimante", "qu'il") gives its words."""
    word = match[0].replace("’", "'")
    return word.replace("'", "") if commonness(word) else word.replace("'", " ")


def _weighted(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    text = text.lower()
    # "Lacoste-garde" is "Lacoste garde" and "dino-snore" may be written "dinosnore": both count.
    compounds = [c.replace("-", "") for c in _COMPOUND.findall(text)]
    for word in _WORD.findall(_APOSTROPHE.sub(_contraction, text)) + compounds:
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


def signature(text: str) -> Signature:
    words = _weighted(text)
    body = text.strip().rstrip("?!.… ")
    question = _LAST_QUESTION.match(body)
    start = question or _ANSWER_START.search(body)
    answer = _weighted(body[start.end() :]) if start else {}
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
    answers = _answer_overlap(a, b)
    if similarity >= SAME_WORDS:  # unless one question gets another punchline
        return similarity >= SAME_TEXT or not (a.asked and b.asked) or answers >= OTHER_ANSWER
    return answers >= SAME_ANSWER


def _answer_overlap(a: Signature, b: Signature) -> float:
    """How much of the smaller answer the other shares (1.0 when it is all in the other)."""
    smaller = min(sum(a.answer.values()), sum(b.answer.values()))
    return _overlap(a.answer, b.answer) / smaller if smaller else 1.0


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
