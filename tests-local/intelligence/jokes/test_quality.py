"""The quality gate on what real models write when asked for jokes: labelled outputs, and the
ones the issue saw on a real llama.cpp server."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from support import TESTS

from intelligence import words
from intelligence.jokes.quality import Reject, judge

# joke_outputs tuned the gate; the holdout set, written apart, found what it missed.
OUTPUTS = [
    json.loads(line)
    for name in ("joke_outputs", "joke_outputs_holdout")
    for line in (TESTS / "data" / f"{name}.jsonl").open()
]


@pytest.fixture(autouse=True, scope="module")
def _words() -> None:
    words.load()


def test_every_real_joke_is_kept_and_every_broken_one_refused():
    wrong = [
        (row["text"], judge(row["text"], row["expected_lang"]))
        for row in OUTPUTS
        if (judge(row["text"], row["expected_lang"]) is None) != (row["label"] == "keep")
    ]
    assert wrong == []


def test_refusals_name_the_right_reason_almost_always():
    refused = [row for row in OUTPUTS if row["label"] == "reject"]
    right = Counter(judge(row["text"], row["expected_lang"]) == row["reason"] for row in refused)
    assert right[True] >= 0.95 * len(refused), right  # measured 277/284


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("There's a math problem that can be solved with only 5 steps,", Reject.FRAGMENT),
        ("Why did the chicken cross the road?", Reject.FRAGMENT),
        ("Pourquoi les poissons sont-ils mouillés ? Parce que", Reject.FRAGMENT),
        ("My dog learned to play chess and", Reject.FRAGMENT),
        ("Awesome Witches", Reject.FRAGMENT),  # a title, seen on SmolLM2
        ("Awesome Witches!", Reject.FRAGMENT),
        (
            "I'd love to hear some jokes you're willing to share. What's the theme of your joke?",
            Reject.META,
        ),
        ("J'adore tes blagues ! Quel est le thème de la tienne ?", Reject.META),
        ("Why did the cow cross the road? To get to the udder side. Did you get it?", Reject.META),
        ("Knock knock. Who's there? Wooden shoe. Wooden shoe who? Wooden shoe like it?", None),
        ("<think>The user wants a joke about cats. Let me", Reject.REASONING),
        ("<think>ok</think> Why do cats sit on keyboards? To watch the mouse.", Reject.REASONING),
        (
            "As an AI, I don't have a sense of humor, but here's one: I'm a pun-ished AI.",
            Reject.DISCLAIMER,
        ),
        ("I'm sorry, but I can't make jokes about that topic.", Reject.REFUSAL),
        ("```python\nprint('joke')\n```", Reject.CODE),
        ("**Joke:** Why did the scarecrow win? He was outstanding in his field.", Reject.MARKDOWN),
        (
            "1. Why did the bee marry? He found his honey. 2. What do you call a sad "
            "strawberry? A blueberry.",
            Reject.SEVERAL,
        ),
        ("Why don't scientists trust atoms? Because they make up everything!", None),
        (
            "Pourquoi les plongeurs plongent-ils en arrière ? Sinon ils tombent dans le bateau.",
            None,
        ),
    ],
)
def test_what_the_issue_saw_on_a_real_model(text, reason):
    assert judge(text, "en" if text.isascii() else "fr") == reason


def test_the_wrong_language_is_refused():
    english = "Why did the golfer bring two pairs of pants? In case he got a hole in one."
    assert judge(english, "fr") is Reject.WRONG_LANGUAGE
    assert judge(english, "en") is None
