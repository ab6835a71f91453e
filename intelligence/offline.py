"""The offline backend: jokes and absurd themes made locally from word lists and templates.

It answers when no LLM is configured, and later when every LLM is down. Every joke has a stable
index; a template filled with any of its subjects and traits is one family (one joke, to a
channel), like each classic.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Language = Literal["fr", "en"]


@dataclass(frozen=True, slots=True)
class Subject:
    noun: str
    feminine: bool = False  # French grammatical gender


SUBJECTS: dict[str, list[Subject]] = {
    "fr": [
        Subject("pigeon"),
        Subject("hamster"),
        Subject("pingouin"),
        Subject("grille-pain"),
        Subject("cactus"),
        Subject("lama"),
        Subject("croissant"),
        Subject("poulpe"),
        Subject("castor"),
        Subject("frigo"),
        Subject("dinosaure"),
        Subject("escargot"),
        Subject("girafe", True),
        Subject("licorne", True),
        Subject("baguette", True),
        Subject("tortue", True),
        Subject("machine à laver", True),
        Subject("mouette", True),
        Subject("huître", True),
        Subject("chaussette", True),
    ],
    "en": [
        Subject(noun)
        for noun in (
            "pigeon",
            "hamster",
            "penguin",
            "toaster",
            "cactus",
            "llama",
            "croissant",
            "octopus",
            "beaver",
            "fridge",
            "dinosaur",
            "snail",
            "giraffe",
            "unicorn",
            "baguette",
            "turtle",
            "washing machine",
            "seagull",
            "oyster",
            "sock",
        )
    ],
}

# (masculine, feminine) in French; English adjectives have one form.
TRAITS: dict[str, list[tuple[str, str]]] = {
    "fr": [
        ("dépressif", "dépressive"),
        ("philosophe", "philosophe"),
        ("insomniaque", "insomniaque"),
        ("au chômage", "au chômage"),
        ("végétarien", "végétarienne"),
        ("influenceur", "influenceuse"),
        ("timide", "timide"),
        ("toujours en retard", "toujours en retard"),
        ("amoureux", "amoureuse"),
        ("hypocondriaque", "hypocondriaque"),
        ("mélomane", "mélomane"),
        ("ninja", "ninja"),
        ("en télétravail", "en télétravail"),
        ("sous caféine", "sous caféine"),
        ("vexé", "vexée"),
        ("retraité", "retraitée"),
        ("complotiste", "complotiste"),
        ("zen", "zen"),
        ("millionnaire", "millionnaire"),
        ("allergique au lundi", "allergique au lundi"),
    ],
    "en": [
        (t, t)
        for t in (
            "depressed",
            "philosophical",
            "insomniac",
            "unemployed",
            "vegan",
            "influencer",
            "shy",
            "always-late",
            "lovesick",
            "hypochondriac",
            "music-obsessed",
            "ninja",
            "remote-working",
            "over-caffeinated",
            "easily offended",
            "retired",
            "conspiracy-minded",
            "zen",
            "millionaire",
            "Monday-allergic",
        )
    ],
}

# The jokes live in offline_jokes.json: per language, "templates" about an absurd character and
# "classics". Template placeholders: {the} {a} {of} are the whole "subject + trait" phrase ("le
# pigeon dépressif", "a depressed pigeon", "du pigeon dépressif" / "the depressed pigeon's");
# capitalised forms {The} {A} {Of}; {pron} {Pron} is the pronoun (il/elle, it); {e} the French
# feminine ending.
_JOKES = json.loads(resources.files(__package__).joinpath("offline_jokes.json").read_text("utf-8"))
TEMPLATES: dict[str, list[str]] = {lang: jokes["templates"] for lang, jokes in _JOKES.items()}
CLASSICS: dict[str, list[str]] = {lang: jokes["classics"] for lang, jokes in _JOKES.items()}


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class OfflineJokes:
    """A large, indexed pool of jokes per language, and absurd themes."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._subjects = SUBJECTS[language]
        self._traits = TRAITS[language]
        self._templates = TEMPLATES[language]
        self._classics = CLASSICS[language]
        self._generated = len(self._subjects) * len(self._traits) * len(self._templates)
        # One family per template and per classic: a template told of another character is
        # the same joke to a channel that heard it.
        self.families = [f"offline:{language}:t{i}" for i in range(len(self._templates))] + [
            f"offline:{language}:c{i}" for i in range(len(self._classics))
        ]

    def __len__(self) -> int:
        return len(self._classics) + self._generated

    def joke(self, index: int) -> str:
        """The joke with this index, 0 <= index < len(self)."""
        if index < len(self._classics):
            return self._classics[index]
        index -= len(self._classics)
        index, t = divmod(index, len(self._templates))
        s, tr = divmod(index, len(self._traits))
        return self._fill(self._templates[t], self._subjects[s], self._traits[tr])

    def fresh(self, heard: set[str], rng: random.Random) -> str | None:
        """A family not in ``heard``, at random; None when every one was heard."""
        unheard = [family for family in self.families if family not in heard]
        return rng.choice(unheard) if unheard else None

    def tell(self, family: str, rng: random.Random) -> str:
        """A joke of ``family``: a classic as it is, a template of a random character."""
        kind, number = family.rpartition(":")[2][0], int(family.rpartition(":")[2][1:])
        if kind == "c":
            return self._classics[number]
        subject, trait = rng.choice(self._subjects), rng.choice(self._traits)
        return self._fill(self._templates[number], subject, trait)

    def theme(self, rng: random.Random | None = None) -> str:
        """An absurd theme such as "le pigeon dépressif" or "the depressed pigeon"."""
        return self.absurd(rng)[0]

    def absurd(self, rng: random.Random | None = None) -> tuple[str, str]:
        """An absurd theme and an offline joke on it, for when no LLM can improvise."""
        rng = rng or random.Random()
        subject, trait = rng.choice(self._subjects), rng.choice(self._traits)
        joke = self._fill(rng.choice(self._templates), subject, trait)
        return self._phrases(subject, trait)["the"], joke

    def _phrases(self, subject: Subject, trait: tuple[str, str]) -> dict[str, str]:
        word = trait[1] if subject.feminine else trait[0]
        noun = subject.noun
        if self.language == "en":
            article = "an" if word[0].lower() in "aeiou" else "a"
            return {
                "the": f"the {word} {noun}",
                "a": f"{article} {word} {noun}",
                "of": f"the {word} {noun}'s",
                "pron": "it",
                "e": "",
            }
        if noun[0] in "aeéèêiîoôuh":
            the, of = f"l'{noun}", f"de l'{noun}"
        elif subject.feminine:
            the, of = f"la {noun}", f"de la {noun}"
        else:
            the, of = f"le {noun}", f"du {noun}"
        a = "une" if subject.feminine else "un"
        return {
            "the": f"{the} {word}",
            "a": f"{a} {noun} {word}",
            "of": f"{of} {word}",
            "pron": "elle" if subject.feminine else "il",
            "e": "e" if subject.feminine else "",
        }

    def _fill(self, template: str, subject: Subject, trait: tuple[str, str]) -> str:
        phrases = self._phrases(subject, trait)
        capitalised = {key.capitalize(): _capitalise(value) for key, value in phrases.items()}
        return template.format(**phrases, **capitalised)
