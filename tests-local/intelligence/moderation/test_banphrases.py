"""Banphrases: found however they are disguised, never inside an innocent word; and the rates on
the labelled sets (tests-local/data/moderation_*.jsonl)."""

from __future__ import annotations

import json

import pytest
from support import TESTS

from intelligence.moderation.banphrases import BanphraseIndex, default_phrases, fold

INDEX = BanphraseIndex(default_phrases())


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("You absolute asshole.", "asshole"),
        ("T'es vraiment un c0nnard.", "connard"),  # leetspeak
        ("Sale enc*lé, va.", "enculé"),  # a masked letter
        ("f u c k you", "fuck"),  # spaced letters
        ("Tu devrais te s.u.i.c.i.d.e.r.", "tu devrais te suicider"),  # dotted, in a phrase
        ("Fuuuuuck you.", "fuck"),  # repeated letters
        ("CoNnArD, la réponse est 12.", "connard"),  # case
        ("Cette sàlope a triché.", "salope"),  # accents
        ("Ferme-la, sale con\u200bnard.", "connard"),  # a zero-width space
        ("Espèce d'encu\xadlé.", "enculé"),  # a soft hyphen
        ("T'es qu'un cоnnard.", "connard"),  # a Cyrillic о
        ("ｃｏｎｎａｒｄ, va jouer ailleurs.", "connard"),  # full-width letters
        ("Go k1ll yourself.", "go kill yourself"),
        ("just killyourself lol", "kill yourself"),  # a phrase written as one word
        ("Encore des tafioles.", "tafiole"),  # a plural
        ("You're a t o s s e r.", "tosser"),  # "a" then a spaced word
        ("Do everyone a favour and k . y . s", "kys"),
    ],
)
def test_disguises_do_not_hide_a_banphrase(text, phrase):
    assert INDEX.find(text) == phrase


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe is a town in Lincolnshire.",
        "Assassin's Creed is a classic; the cocktail was great.",
        "Un pique-nique au bord du lac, avec du contenu sympa.",
        "Le calcul est ridicule, mais la culture compte.",
        "Dick Van Dyke starred in Mary Poppins.",
        "This boss fight is killing me, kill the process and retry.",
        "Je suis en retard, désolé !",
        "Merde, j'ai raté le saut. Putain, quel match !",
        "Shiitake mushrooms and a grape.",
        "Bien sûr que non : 42.",
        "",
    ],
)
def test_innocent_words_pass(text):
    assert INDEX.find(text) is None


def test_fold_is_plain_ascii():
    assert fold("Ça ÉTAIT ｆｕｌｌ-width\u200b, cоol") == "ca etait full-width, cool"


def rates(path: str) -> tuple[list[dict], list[dict], int, int]:
    rows = [json.loads(line) for line in (TESTS / "data" / path).read_text().splitlines()]
    passes = [r for r in rows if r["label"] == "pass"]
    blocks = [r for r in rows if r["label"] == "block"]
    false_blocks = [r for r in passes if INDEX.find(r["text"]) is not None]
    missed = [r for r in blocks if INDEX.find(r["text"]) is None]
    return false_blocks, missed, len(passes), len(blocks)


def words_cannot_tell(row: dict) -> bool:
    """Harassment in plain words (doxxing, pile-ons, body shaming), as the set's notes say:
    only a moderation model can see it."""
    note = row["note"].lower()
    plain = (
        "context only",
        "cannot catch",
        "no vulgar",
        "no strong vulgarity",
        "sans mot vulgaire",
    )
    return any(words in note for words in plain)


@pytest.mark.parametrize("path", ["moderation_set.jsonl", "moderation_holdout.jsonl"])
def test_rates_on_the_labelled_sets(path):
    false_blocks, missed, passes, blocks = rates(path)
    assert passes >= 90 and blocks >= 70
    assert len(false_blocks) / passes <= 0.02, [r["text"] for r in false_blocks]
    reachable = [r for r in missed if not words_cannot_tell(r)]
    assert len(reachable) / blocks <= 0.03, [r["text"] for r in reachable]
