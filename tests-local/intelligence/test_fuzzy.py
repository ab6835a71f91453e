"""The fuzzy tier's guards on labelled pairs: paraphrases match, near-misses never do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intelligence.cache import TieredCache
from intelligence.entries import Entry, Scope
from intelligence.fuzzy import FuzzyIndex, analyse, same_meaning
from intelligence.stats import Stats

SCOPE = Scope("ask", "model", "persona", "en")


async def served(cached: str, asked: str, threshold: float) -> str | None:
    """The tier that serves ``asked`` once ``cached`` is in the cache, or None for a miss."""
    cache = TieredCache(l1_max=100, fuzzy_threshold=threshold, stats=Stats())
    await cache.put(SCOPE, cached, Entry("answer", cached, 60))
    hit = await cache.get(SCOPE, asked)
    return hit.tier if hit else None


# (cached question, new question): the same question in other words. These must match.
PARAPHRASES = [
    ("What is the capital of France?", "what's the capital of france"),
    ("What is the capital of France?", "capital of France?"),
    ("What is the capital of France?", "Hey bot, what is the capital of France please?"),
    ("What is the capital of France?", "tell me the capital of France"),
    ("How tall is the Eiffel Tower?", "how tall is the eiffel tower ??"),
    ("How tall is the Eiffel Tower?", "How tall is the Eifel Tower?"),
    ("Why is the sky blue?", "why is the sky blue"),
    ("Why is the sky blue?", "Why is the sky blue? please"),
    ("Who wrote Les Misérables?", "who wrote les miserables"),
    ("Who painted the Mona Lisa?", "Who painted the Mona Lisa ?!"),
    ("How many legs does a spider have?", "how many legs does a spider have"),
    ("What is the speed of light?", "what's the speed of light?"),
    ("What is the boiling point of water?", "boiling point of water"),
    ("Is it safe to eat raw cookie dough?", "is it safe to eat raw cookie dough"),
    ("Can you explain quantum entanglement?", "explain quantum entanglement"),
    ("What does DNA stand for?", "What does DNA stand for"),
    ("Where do penguins live?", "where do penguins live ?"),
    ("How do I cook perfect rice?", "how do i cook perfect rice"),
    ("Who was the first person on the moon?", "who was the first person on the moon"),
    ("What is the meaning of life?", "what is the meaning of life???"),
    ("Why do cats purr?", "why do cats purr"),
    ("How does photosynthesis work?", "how does photosynthesis work?"),
    ("How does photosynthesis work?", "how does photosynthesys work"),
    ("What year did the Titanic sink?", "what year did the titanic sink"),
    ("Quelle est la capitale de la France ?", "c'est quoi la capitale de la France"),
    ("Quelle est la capitale de la France ?", "capitale de la france ?"),
    ("Quelle est la capitale de la France ?", "quelle est la capitale de la france stp"),
    ("Pourquoi le ciel est bleu ?", "pourquoi le ciel est-il bleu"),
    ("Pourquoi le ciel est bleu ?", "Pourquoi le ciel est bleu ?!"),
    ("Qui a écrit Les Misérables ?", "qui a ecrit les miserables"),
    ("Combien de pattes a une araignée ?", "combien de pattes a une araignee"),
    ("Comment fonctionne la photosynthèse ?", "comment fonctionne la photosynthese"),
    ("Comment cuire du riz parfait ?", "comment cuire un riz parfait ?"),
    ("Qu'est-ce que l'ADN ?", "qu'est ce que l'ADN"),
    ("Où vivent les pingouins ?", "ou vivent les pingouins"),
    ("Quelle est la vitesse de la lumière ?", "dis moi la vitesse de la lumière"),
    ("Quel est le sens de la vie ?", "quel est le sens de la vie ???"),
    ("En quelle année le Titanic a coulé ?", "en quelle annee le titanic a coule"),
    ("Pourquoi les chats ronronnent ?", "pourquoi les chats ronronnent-ils ?"),
]

# Questions that look alike but mean something else. These must never match.
NEAR_MISSES = [
    ("What is the capital of France?", "What is the capital of France and Germany?"),
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("Is it safe to eat raw cookie dough?", "Is it not safe to eat raw cookie dough?"),
    ("Is it safe?", "Is it not safe?"),
    ("Convert 100 USD to EUR", "Convert 1000 USD to EUR"),
    ("What is 12 times 13?", "What is 13 times 12?"),
    ("What is 2 + 2?", "What is 2 + 3?"),
    ("Who won the world cup in 2018?", "Who won the world cup in 2014?"),
    ("Who won the world cup in 2018?", "Who won the world cup?"),
    ("Why is the sky blue?", "Why is the sea blue?"),
    ("How tall is the Eiffel Tower?", "How old is the Eiffel Tower?"),
    ("Who wrote Hamlet?", "Who wrote Macbeth?"),
    ("Where do penguins live?", "Where do pigeons live?"),
    ("What do cats eat?", "What do bats eat?"),
    ("Should I buy Bitcoin?", "Should I sell Bitcoin?"),
    ("Why do cats purr?", "Why do cats not purr?"),
    ("Can dogs eat chocolate?", "Can dogs never eat chocolate?"),
    ("How do I cook rice?", "How do I cook rice without a rice cooker?"),
    ("Who is the president of France?", "Who was the president of France in 1990?"),
    ("What is the weather today?", "What is the weather today in Paris?"),
    ("What's the latest news?", "What's the latest news on Mars?"),
    ("What time is it now?", "What time is it now, bot?"),  # time-sensitive: exact only
    ("Who is the best streamer right now?", "Who is the best streamer now?"),
    ("Dog bites man", "Man bites dog"),
    ("Explain the rules of chess", "Explain the rules of checkers"),
    ("How many moons does Jupiter have?", "How many moons does Saturn have?"),
    ("What is the square root of 144?", "What is the square root of 169?"),
    ("Is coffee bad for you?", "Is coffee good for you?"),
    ("Quelle est la capitale de la France ?", "Quelle est la capitale de l'Allemagne ?"),
    (
        "Quelle est la capitale de la France ?",
        "Quelle est la capitale de la France et de l'Italie ?",
    ),
    ("Est-ce que c'est dangereux ?", "Est-ce que ce n'est pas dangereux ?"),
    ("Le chocolat est bon pour les chiens ?", "Le chocolat n'est pas bon pour les chiens ?"),
    ("Convertis 100 euros en dollars", "Convertis 1000 euros en dollars"),
    ("Combien font 7 fois 8 ?", "Combien font 7 fois 9 ?"),
    ("Qui a gagné la coupe du monde 2018 ?", "Qui a gagné la coupe du monde 2022 ?"),
    ("Pourquoi le ciel est bleu ?", "Pourquoi la mer est bleue ?"),
    ("Qui a écrit Les Misérables ?", "Qui a lu Les Misérables ?"),
    ("Quel temps fait-il aujourd'hui ?", "Quel temps fait-il aujourd'hui à Lyon ?"),
    ("Quelles sont les dernières nouvelles ?", "Quelles sont les dernières nouvelles stp ?"),
    ("Combien de pattes a une araignée ?", "Combien de pattes a une fourmi ?"),
    ("Comment cuire du riz ?", "Comment cuire du riz sans cuiseur ?"),
    ("Faut-il acheter du Bitcoin ?", "Faut-il vendre du Bitcoin ?"),
    ("Le café est mauvais pour la santé ?", "Le café est bon pour la santé ?"),
    ("Où vivent les pingouins ?", "Où vivent les manchots ?"),
    ("Qui est le président de la France ?", "Qui était le président de la France en 1990 ?"),
    ("Peut-on manger des champignons crus ?", "Peut-on jamais manger des champignons crus ?"),
]


def test_there_are_enough_labelled_pairs():
    assert len(PARAPHRASES) + len(NEAR_MISSES) >= 60
    assert any("é" in a or "ç" in a for a, _ in PARAPHRASES + NEAR_MISSES)  # French too


@pytest.mark.parametrize(("cached", "asked"), PARAPHRASES)
async def test_paraphrases_are_served_from_the_cache(cached, asked):
    assert await served(cached, asked, threshold=90) in ("l1", "fuzzy")


@pytest.mark.parametrize(("cached", "asked"), NEAR_MISSES)
async def test_near_misses_are_never_served(cached, asked):
    # Even at a lax threshold: the guards alone must refuse.
    assert await served(cached, asked, threshold=50) is None


async def test_most_paraphrases_need_the_fuzzy_tier():
    tiers = [await served(c, a, threshold=90) for c, a in PARAPHRASES]
    assert tiers.count("fuzzy") >= 20


def test_zero_false_hits_among_many_cached_questions():
    index = FuzzyIndex(threshold=90)
    for i, (cached, _) in enumerate(NEAR_MISSES):
        index.add("ns", f"k{i}", cached)
    for _cached, asked in NEAR_MISSES:
        match = index.find("ns", asked)
        assert match is None or analyse(match.prompt) == analyse(asked), (asked, match)


def test_namespaces_are_separate():
    index = FuzzyIndex(threshold=90)
    index.add("en-model-a", "key", "What is the capital of France?")
    assert index.find("en-model-b", "capital of France?") is None


# 297 pairs never tuned on, French and English: typos, paraphrases, and entities one or two
# letters apart (austria/australia, alien/aliens, désert/dessert, pâtes/pâtés).
QUESTION_PAIRS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "data" / "question_pairs.jsonl").open()
]


async def test_labelled_pairs_get_no_wrong_answer_and_most_paraphrases_reuse():
    reused = wrong = 0
    for pair in QUESTION_PAIRS:
        tier = await served(pair["b"], pair["a"], threshold=90)
        reused += tier is not None and pair["same"]
        wrong += tier is not None and not pair["same"]
    same = sum(p["same"] for p in QUESTION_PAIRS)
    assert len(QUESTION_PAIRS) >= 200 and sum(p["kind"] == "entity" for p in QUESTION_PAIRS) >= 50
    assert wrong == 0
    assert reused >= 0.75 * same  # measured 105/135; 97 (and 23 wrong) before


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("capitle", "capital", True),  # a non-word next to a word: a typo
        ("mooon", "moon", True),
        ("stnad", "stand", True),  # two letters swapped
        ("austria", "australia", False),  # two real words: two things
        ("alien", "aliens", False),
        ("toffee", "coffee", False),
        ("désert", "dessert", False),
        ("pates", "pâtes", True),  # accents left out
        ("pâtes", "pâtés", False),  # two words that differ by an accent
        ("cat", "bat", False),
    ],
)
def test_a_typo_is_told_from_another_word(a, b, same):
    question = f"tell me about the {a} please"
    assert same_meaning(analyse(question), analyse(f"tell me about the {b} please")) is same


async def test_singular_and_plural_are_two_questions_even_where_they_mean_one():
    # The price of never serving "Aliens" for "Alien": one more LLM call for the spiders.
    assert await served("who directed the film alien", "who directed the film aliens", 90) is None
    assert (
        await served("How many legs does a spider have?", "How many legs do spiders have?", 90)
        is None
    )


def test_guards_directly():
    assert not same_meaning(analyse("100 USD in EUR"), analyse("1000 USD in EUR"))
    assert analyse("what's new today").time_sensitive
    assert not analyse("hi").fuzzy_ok  # too short to judge


def test_index_is_bounded():
    index = FuzzyIndex(threshold=90, max_per_namespace=100)
    for i in range(500):
        index.add("ns", f"k{i}", f"how many moons does planet number {i} have")
    assert len(index) == 100
    assert index.find("ns", "how many moons does planet number 3 have") is None  # evicted
    assert index.find("ns", "how many moons does planet number 499 have ?") is not None
