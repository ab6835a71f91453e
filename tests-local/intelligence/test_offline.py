"""The offline backend: enough distinct jokes in both languages, themes, and no repeats."""

from __future__ import annotations

import random
import re

import pytest

from intelligence.offline import CLASSICS, TEMPLATES, OfflineJokes


@pytest.mark.parametrize("language", ["fr", "en"])
def test_at_least_300_distinct_well_formed_jokes(language):
    pool = OfflineJokes(language)
    jokes = [pool.joke(i) for i in range(len(pool))]
    assert len(set(jokes)) == len(jokes) >= 300
    for joke in jokes:
        assert "{" not in joke and "}" not in joke, joke
        assert joke[0].isupper() or joke[0] in '«"', joke
        assert len(joke) < 300
        assert not joke.startswith(("/", ".", "!"))


def test_french_grammar_agrees():
    offline = OfflineJokes("fr")
    jokes = [offline.joke(i) for i in range(len(offline))]
    assert not any(re.search(r"\b(la|une) \w+ \w+ est allé\b", j) for j in jokes)
    assert any("La girafe dépressive" in j for j in jokes)
    assert any("L'escargot" in j or "l'escargot" in j for j in jokes)
    assert not any("le escargot" in j.lower() or "du escargot" in j for j in jokes)


def test_english_articles():
    offline = OfflineJokes("en")
    jokes = [offline.joke(i) for i in range(len(offline))]
    assert any("an insomniac" in j for j in jokes)
    assert not any(re.search(r"\ba [aeiou]", j, re.IGNORECASE) for j in jokes)


@pytest.mark.parametrize(("language", "pattern"), [("fr", r"^(le|la|l')"), ("en", r"^the ")])
def test_absurd_themes(language, pattern):
    rng = random.Random(3)
    themes = {OfflineJokes(language).theme(rng) for _ in range(50)}
    assert len(themes) > 30
    assert all(re.match(pattern, t) for t in themes)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_family_comes_once_before_any_comes_again(language):
    offline, rng = OfflineJokes(language), random.Random(4)
    heard: set[str] = set()
    shapes = set()
    while (family := offline.fresh(heard, rng)) is not None:
        heard.add(family)
        joke = offline.tell(family, rng)
        shapes.add(joke if ":c" in family else family)  # a classic is its text
    assert len(heard) == len(offline.families) >= 140
    assert len(shapes) == len(heard)
    assert len(TEMPLATES[language]) >= 70 and len(CLASSICS[language]) >= 70
