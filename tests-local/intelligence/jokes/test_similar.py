"""The near-duplicate detector on labelled pairs: rewordings of one joke must be one family,
different jokes on one subject (or one setup) must stay apart."""

from __future__ import annotations

import json

import pytest
from support import TESTS

from intelligence import words
from intelligence.jokes.similar import Families, same_joke, signature
from intelligence.jokes.text import joke_key

# joke_pairs tuned the detector; the holdout set showed where it overfitted; the blind set,
# written last by someone who saw neither the code nor the other sets, was only measured.
SETS = ("joke_pairs", "joke_pairs_holdout", "joke_pairs_blind")
PAIRS = [json.loads(line) for name in SETS for line in (TESTS / "data" / f"{name}.jsonl").open()]


@pytest.fixture(autouse=True, scope="module")
def _words() -> None:
    words.load()


def confusion(pairs: list[dict]) -> tuple[int, int, int]:
    """(rewordings found, different jokes merged, rewordings missed)."""
    found = merged = missed = 0
    for pair in pairs:
        same = same_joke(signature(pair["a"]), signature(pair["b"]))
        found += same and pair["same"]
        merged += same and not pair["same"]
        missed += pair["same"] and not same
    return found, merged, missed


def test_the_labelled_set_is_big_enough_and_balanced():
    assert len(PAIRS) >= 450
    assert {p["lang"] for p in PAIRS} == {"en", "fr"}
    assert 0.3 < sum(p["same"] for p in PAIRS) / len(PAIRS) < 0.7


def test_precision_and_recall_on_the_labelled_pairs():
    found, merged, missed = confusion(PAIRS)
    precision, recall = found / (found + merged), found / (found + missed)
    # Measured 0.959 and 0.904 (9 merged, 22 missed of 500); bench/joke_replay.py prints them
    # per set.
    assert precision >= 0.95 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Why don't scientists trust atoms? Because they make up everything!",
            "You can't trust an atom, they literally make up everything.",
        ),
        (
            "Qu'est-ce qu'un crocodile qui surveille une pharmacie ? Un Lacoste garde.",
            "Comment on appelle un crocodile qui garde une pharmacie ? Un Lacoste-garde !",
        ),
        ("What do you call a fake noodle? An impasta!", "Fake noodles are called impastas."),
    ],
)
def test_a_rewording_is_the_same_joke(a, b):
    assert same_joke(signature(a), signature(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (  # one setup, another punchline
            "Qu'est-ce qui est jaune et qui attend ? Jonathan.",
            "Qu'est-ce qui est jaune et qui attend ? Un taxi à l'arrêt.",
        ),
        (  # one template, other names: a French channel hears many of these
            "Monsieur et Madame Gator ont un fils. Comment s'appelle-t-il ? Ali.",
            "Monsieur et Madame Cover ont un fils. Comment s'appelle-t-il ? Harry.",
        ),
        (  # one subject
            "Why did the coffee file a police report? It got mugged.",
            "How does coffee say goodbye? It's been a brew-tiful time.",
        ),
    ],
)
def test_another_joke_is_not_merged(a, b):
    assert not same_joke(signature(a), signature(b))


def test_few_distinct_jokes_are_wrongly_merged_in_a_population():
    """All the jokes of the set in one population, as a pool meets them: families chain, so a
    joke may join another's family through a third. At most 5 % may end up merged with a joke
    the set says is another."""
    families = Families()
    family = {t: families.family_of(joke_key(t), t) for p in PAIRS for t in (p["a"], p["b"])}
    merged = {p["b"] for p in PAIRS if not p["same"] and family[p["a"]] == family[p["b"]]}
    assert len(merged) <= 0.05 * len(family), (len(merged), len(family))


def test_every_rewording_joins_the_first_jokes_family():
    families = Families()
    rewordings = [p for p in PAIRS if p["same"]]
    joined = sum(
        families.family_of(joke_key(p["a"]), p["a"]) == families.family_of(joke_key(p["b"]), p["b"])
        for p in rewordings
    )
    assert joined >= 0.9 * len(rewordings)


def test_families_forget_the_oldest_jokes_past_their_bound():
    families = Families(max_known=3)
    for n, word in enumerate(["atoms", "noodle", "coffee", "penguin"]):
        families.family_of(str(n), f"Why is the {word} funny? It just is.")
    assert len(families) == 3
