"""The offline backend: jokes and absurd themes made locally from word lists and templates.

It answers when no LLM is configured, and later when every LLM is down. Every joke has a stable
index, so "which jokes has this viewer seen" is a set of integers, and the pool is large
(subjects × traits × templates, plus a few classics) so a viewer does not see a repeat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
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

# Placeholders: {the} {a} {of} are the whole "subject + trait" phrase ("le pigeon dépressif",
# "a depressed pigeon", "du pigeon dépressif" / "the depressed pigeon's"); capitalised forms
# {The} {A} {Of}; {pron} {Pron} is the pronoun (il/elle, it); {e} the French feminine ending.
TEMPLATES: dict[str, list[str]] = {
    "fr": [
        "Pourquoi {the} ne joue jamais aux cartes ? Parce qu'{pron} a peur de tomber sur la dame "
        "de pique… et de devoir lui parler.",
        "{A} entre dans un bar. Le barman : « On ne sert pas les gens comme vous. » Réponse : "
        "« Parfait, je venais juste pour le wifi. »",
        "Quel est le sport préféré {of} ? Le saut à l'élastique émotionnel.",
        "{The} a ouvert une chaîne Twitch. Trois viewers : sa mère, un bot, et le bot de sa mère.",
        "Comment reconnaît-on {a} ? {Pron} commence toutes ses phrases par « En vrai… ».",
        "{The} est allé{e} chez le psy. Le psy a pris des notes. Puis des vacances.",
        "Pourquoi {the} traverse-t-{pron} la route ? Pour prouver que le poulet n'a pas le "
        "monopole.",
        "Le rêve {of} ? Un monde où le lundi serait optionnel et le goûter obligatoire.",
        "{The} a essayé le yoga. Depuis mardi, {pron} est bloqué{e} en position du bretzel.",
        "Que dit {a} à son banquier ? « Je ne suis pas à découvert, je suis en mode exploration. »",
        "{The} a écrit un livre de développement personnel. Chapitre 1 : « Arrête de lire et va "
        "dormir. »",
        "Pourquoi {the} parle-t-{pron} aux plantes ? Parce que les plantes, au moins, ne "
        "l'interrompent jamais.",
    ],
    "en": [
        "Why doesn't {the} play cards? Too afraid of drawing the queen of spades and having to "
        "make small talk.",
        '{A} walks into a bar. The bartender says: "We don\'t serve your kind." It replies: '
        '"Fine, I\'m only here for the wifi."',
        "What's {of} favourite sport? Emotional bungee jumping.",
        "{The} started streaming. Three viewers: its mum, a bot, and its mum's bot.",
        'How do you spot {a}? Every sentence starts with "Actually…".',
        "{The} went to therapy. The therapist took notes. Then a holiday.",
        "Why did {the} cross the road? To prove chickens don't own the idea.",
        "{Of} dream? A world where Mondays are optional and snacks are mandatory.",
        "{The} tried yoga. It has been stuck in pretzel pose since Tuesday.",
        "What did {the} tell the bank? \"I'm not overdrawn, I'm in exploration mode.\"",
        '{The} wrote a self-help book. Chapter one: "Stop reading and go to bed."',
        "Why does {the} talk to plants? Because plants never interrupt.",
    ],
}

CLASSICS: dict[str, list[str]] = {
    "fr": [
        "Que dit un escargot quand il croise une limace ? « Oh, un naturiste ! »",
        "Pourquoi les plongeurs plongent-ils toujours en arrière ? Parce que sinon ils tombent "
        "dans le bateau.",
        "Quel est le comble pour un électricien ? De ne pas être au courant.",
        "Qu'est-ce qui est jaune et qui attend ? Jonathan.",
        "Pourquoi les poissons détestent l'ordinateur ? À cause du net.",
        "Que fait une fraise sur un cheval ? Tagada tagada.",
        "Comment appelle-t-on un chat tombé dans un pot de peinture le jour de Noël ? "
        "Un chat-peint de Noël.",
        "Quel est le comble pour un jardinier ? De raconter des salades.",
        "Pourquoi le livre de maths est-il triste ? Parce qu'il a trop de problèmes.",
        "Que dit un zéro à un huit ? « Joli ceinture ! »",
    ],
    "en": [
        "Why don't skeletons fight each other? They don't have the guts.",
        "I told my wife she was drawing her eyebrows too high. She looked surprised.",
        "Why did the scarecrow win an award? Because he was outstanding in his field.",
        "What do you call a fake noodle? An impasta.",
        "Why don't eggs tell jokes? They'd crack each other up.",
        "What do you call a bear with no teeth? A gummy bear.",
        "Why did the math book look sad? It had too many problems.",
        "What did zero say to eight? Nice belt!",
        "I'm reading a book about anti-gravity. It's impossible to put down.",
        "Why can't a bicycle stand on its own? It's two tired.",
    ],
}


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

    def pick(self, turn: int, rng: random.Random) -> int:
        """The index of a joke for a viewer's ``turn``-th joke. Turns walk through the templates
        (and a classic every so often), so a viewer's jokes in a row never share their shape,
        only a subject or a trait."""
        slots = len(self._templates) + 1
        slot = turn % slots
        if slot == len(self._templates):
            return rng.randrange(len(self._classics))
        subject, trait = rng.randrange(len(self._subjects)), rng.randrange(len(self._traits))
        return len(self._classics) + (
            (subject * len(self._traits) + trait) * len(self._templates) + slot
        )

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
