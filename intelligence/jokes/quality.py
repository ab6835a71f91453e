"""Only real jokes: what real models write when asked for a joke is often something else.

Each LLM joke is judged on what the model wrote, before any cleaning, and refused with one
reason: reasoning (``<think>``, "Okay, the user wants…"), code, markdown, an AI disclaimer, a
refusal, meta talk (about the request, or a question to the viewer), several jokes in one, a
fragment (an unfinished sentence, a setup without its answer), or the wrong language.
"""

from __future__ import annotations

import re
from enum import StrEnum

from intelligence.words import LANGUAGES, zipf


class Reject(StrEnum):
    REASONING = "reasoning"
    CODE = "code"
    MARKDOWN = "markdown"
    DISCLAIMER = "disclaimer"
    REFUSAL = "refusal"
    META = "meta"
    SEVERAL = "several"
    FRAGMENT = "fragment"
    WRONG_LANGUAGE = "wrong_language"


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)


_REASONING = _any(
    r"</?(?:think|thinking|reasoning|reflection|thought)\b",
    r"\bthe user (?:wants|asked|asks|is asking|requested)\b",
    r"\blet me (?:think|see|come up)\b",
    r"\bstep by step\b",
    r"\bi (?:need|have|want) to (?:come up|write|think|find|pick|make)\b",
    r"^(?:okay|ok|alright|hmm+)[,.]? (?:so|let|i|the)\b",
    r"\bl'utilisateur (?:veut|demande|a demandé)\b",
    r"\bfirst,? i(?:'ll| will| should| need| must)\b|\bthen i(?:'ll| will) (?:write|pick|make)\b",
    r"\bwhat makes a joke funny\b|\bce qui rend une blague drôle\b",
    r"\bd'abord,? (?:je|il faut)\b|\bensuite,? j'(?:écris|écrirai)\b",
    r"\b(?:réfléchissons|je dois (?:trouver|écrire|inventer)|laisse-moi réfléchir)\b",
)
_CODE = _any(
    r"```",
    r"`[^`\n]+`",
    r"^\s*(?:def|class|import|return|function|const|let|var|print)\b.*[(=:{]",
    r"\b(?:console\.log|print|printf|System\.out)\s*\(",
    r"^\s*[{\[]\s*\"",  # a JSON object or array
    r"</?[a-z]+>",  # an HTML or XML tag
    r";\s*$",
    r"^\s*[a-z_]\w*\s*=\s*[\"']",  # an assignment: joke = "…"
    r"^\s*echo\s",
)
_MARKDOWN = _any(
    r"\*\*[^*]+\*\*",
    r"__[^_]+__",
    r"^\s*#{1,6}\s",
    r"^\s*[-*•]\s",
    r"^\s*\|.*\|\s*$",
)
# "The Greedy Cat" on a line of its own, over a story: a heading without the #.
_TITLE = re.compile(r"\A\s*(?![KkTt](?:nock|oc)\b)(?:[A-Z][\w'’]*[ \t]+){0,5}[A-Z][\w'’]*[ \t]*\n")
_DISCLAIMER = _any(
    r"\bas an? (?:ai|artificial intelligence|large language model|language model)\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?:'m| am) (?:just |only )?an? (?:ai|artificial intelligence|language model|bot)\b",
    r"\bdisclaimer\b",
    r"\bno offen[cs]e (?:intended|meant)\b",
    r"\ben tant qu(?:e |')(?:ia|intelligence artificielle|modèle de langage|assistant)",
    r"\bje (?:ne )?suis (?:qu')?(?:juste |seulement )?(?:une?|qu'une?) (?:ia|intelligence "
    r"artificielle|modèle de langage|programme)\b",
    r"\b(?:avertissement|précision) ?:",
    r"\bbeing an? (?:ai|artificial intelligence|language model)\b|\bétant une? (?:ia|intelligence)",
    r"\bi (?:don't|do not) (?:really )?have (?:personal )?(?:feelings|emotions|a sense of humou?r)",
    r"\bje n'ai (?:pas|ni) (?:d'émotions|de sentiments|vraiment de sens de l'humour|de sens de)",
    r"\bmodèle d'ia\b|\bsens de l'humour\b|\bsense of humou?r\b",
)
_REFUSAL = _any(
    r"\bi(?:'m| am) sorry\b",
    r"\bi apologi[sz]e\b",
    r"\bi (?:can(?:no|')t|cannot|won't|will not|shouldn't|should not)\b",
    r"\bi(?:'m| am) (?:unable|not able) to\b|\bnot something i can\b|\bi don't think i should\b",
    r"\blet's keep (?:it|the chat|things) (?:friendly|clean|respectful|light)\b",
    r"\bunfortunately\b",
    r"\bsorry, (?:i|but)\b",
    r"\bje (?:ne peux pas|ne vais pas|refuse|suis désolée?|ne suis pas (?:en mesure|capable))\b",
    r"\bje ne pense pas (?:devoir|que je devrais)\b|\brestons (?:polis|bienveillants|cool)\b",
    r"\bdésolée?,? (?:je|mais)\b",
    r"\bmalheureusement\b",
    r"\bi(?:'d| would) rather not\b|\bagainst my (?:rules|guidelines)\b",
    r"\bje préfère ne pas\b|\bnavrée?\b|\bpas autorisée? à\b|\bà l'encontre de mes règles\b",
)
_META = _any(
    r"\bhere (?:are|is) (?:some|a few|\d+|your|my)\b",
    r"\b(?:want|wanna) (?:to )?hear (?:another|more)\b",
    r"\b(?:let me know|would you like|do you want|what kind of|what's the theme|any (?:other )?"
    r"requests?|want (?:another|more)|shall i|should i)\b",
    r"\b(?:jokes are|a joke is|great (?:request|question)|i(?:'d| would) love to)\b",
    r"\bj'(?:adorerais|aimerais bien|aimerais) (?:entendre|connaître|savoir|lire)\b",
    r"\b(?:please tell me|i hope (?:you|that)|feel free|thank you for|thanks for|do you prefer|"
    r"happy to help|glad you)\b",
    r"\b(?:voici (?:quelques|des|\d+)|tu veux|vous voulez|voulez-vous|veux-tu|dis-moi|"
    r"n'hésite|quel (?:genre|type|thème)|tu préfères|vous préférez|avec plaisir|j'espère|"
    r"je serais ravie?|peux-tu|pouvez-vous|excellente idée|merci pour)",
    r"\b(?:une autre|encore une) \?\s*$",
    r"\b(?:les blagues sont|une blague est|excellente (?:demande|question))\b",
    # The model praising or explaining its own joke.
    r"\b(?:it'?s|that'?s|so) (?:so |really )?(?:hilarious|funny)\b|\bi (?:just )?laughed\b",
    r"\b(?:this|that|my) joke\b|\b(?:there'?s|here'?s) a joke\b|\b(?:cette|ma) blague\b",
    r"\((?:a |une )?(?:funny |drôle )?(?:joke|blague)\)",
    r"\bc'est (?:trop |tellement )?(?:hilarant|drôle)\b|\bj'ai (?:tellement |trop )?ri\b",
    r":\s*$",  # a lead-in with nothing after it
)
# A lead-in before the joke itself: "Here's one:", "Voici une blague :".
_LEAD_IN = re.compile(
    r"^\s*(?:(?:here'?s|here is|sure|okay|ok|alright|bien sûr|voici|voilà|allez|en voici)"
    r"\b[^:\n]{0,40}[:!]\s*)+",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"(?:^|\s)(?:\d+[.)]|#\d+)\s+\S.*(?:\s)(?:\d+[.)]|#\d+)\s+\S")
_ANOTHER = _any(
    r"\b(?:here'?s another|and (?:another|why|what)|also,|oh,? and|speaking of)\b",
    r"(?:^|[.!?]\s+)another one\b",
    r"\b(?:en voici une autre|une autre ?:|et (?:pourquoi|qu'est-ce)|aussi,|à propos de)",
)
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»")
# Knock-knock jokes ask two questions and answer both: one joke, not two.
_KNOCK_KNOCK = re.compile(r"^\W*(?:knock,? knock|toc,? toc)\b", re.IGNORECASE)
# A joke ends on its answer: a last question put to "you" is the model talking to the viewer.
_YOU = re.compile(
    r"\b(?:you|your|yours|tu|te|toi|ton|ta|tes|vous|votre|vos|tienne|tien|vôtre)\b|\bt'", re.I
)
_WHO = re.compile(r"\b(?:who|qui)\s*\?\W*$", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"'»”)]*|$)")
_ENDS_DONE = re.compile(r"(?:[.!?…]+|[\"'»”)]|[\U0001f300-\U0001faff\u2600-\u27bf])\s*$")
_DANGLING = re.compile(
    r"(?:[,;:\-–—]|\b(?:and|but|because|or|so|then|with|the|a|an|of|to|et|mais|parce que|car|"
    r"donc|or|ou|que|qui|le|la|les|un|une|des|de|du|avec|pour))\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+")
MIN_WORDS = 5  # fewer is a title or a fragment ("Awesome Witches."), not a joke
MIN_WORDS_FOR_LANGUAGE = 3
COMMON = 3.0  # zipf: a word that appears once per million words
IN_LANGUAGE = 0.7  # the share of a joke's words that are common words of its language


def judge(raw: str, language: str) -> Reject | None:
    """Why ``raw`` (one joke as the model wrote it) is not a joke to tell, or None."""
    # What a character says is the joke's, not the model's (a joke wrapped whole in quotes is
    # the model's, though).
    body = raw.strip()
    if len(body) > 1 and body[0] in '"“«' and body[-1] in '"”»':
        body = body[1:-1]
    unquoted = _QUOTED.sub('""', body)
    for reason, pattern, where in (
        (Reject.REASONING, _REASONING, raw),
        (Reject.CODE, _CODE, raw),
        (Reject.MARKDOWN, _MARKDOWN, raw),
        (Reject.MARKDOWN, _TITLE, raw),
        (Reject.DISCLAIMER, _DISCLAIMER, raw),
        (Reject.REFUSAL, _REFUSAL, unquoted),
    ):
        if pattern.search(where):
            return reason
    text = _LEAD_IN.sub("", raw).strip()
    said = _LEAD_IN.sub("", unquoted).strip()
    if not text or _META.search(said) or _asks_the_viewer(said):
        return Reject.META
    if _several(text):
        return Reject.SEVERAL
    if _fragment(text):
        return Reject.FRAGMENT
    if not _in_language(text, language):
        return Reject.WRONG_LANGUAGE
    return None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _asks_the_viewer(text: str) -> bool:
    sentences = _sentences(text)
    return (
        len(sentences) > 1
        and sentences[-1].endswith("?")
        and bool(_YOU.search(sentences[-1]))
        and not _KNOCK_KNOCK.search(text)
    )


def _several(text: str) -> bool:
    if _NUMBERED.search(text) or _ANOTHER.search(text):
        return True
    if _KNOCK_KNOCK.search(text):
        return False
    sentences = _sentences(text)
    # Two question-and-answer pairs: "Why…? Because…. What…? A…!"
    questions = [i for i, s in enumerate(sentences) if s.rstrip("\"'»”) ").endswith("?")]
    answered = [i for i in questions if i + 1 < len(sentences)]
    return len(answered) >= 2 and answered[1] > answered[0] + 1


def _fragment(text: str) -> bool:
    if _DANGLING.search(text) or not _ENDS_DONE.search(text):
        return True
    if len(_WORD.findall(text)) < MIN_WORDS:
        return True
    sentences = _sentences(text)
    asks = sentences[-1].rstrip("\"'»”) ").endswith("?")
    # A setup alone: one sentence that asks a question, or a knock-knock without its answer.
    unanswered = _KNOCK_KNOCK.search(text) and _WHO.search(sentences[-1])
    return asks and (len(sentences) == 1 or bool(unanswered))


def _in_language(text: str, language: str) -> bool:
    """Most words are common words of ``language``, and the words as a whole are more at home
    in it than in the other one (web French has "the" and "why" too, only rarer)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < MIN_WORDS_FOR_LANGUAGE:
        return True
    at_home = {lang: sum(zipf(w, lang) for w in words) for lang in LANGUAGES}
    ours = at_home.pop(language)
    common = sum(zipf(w, language) >= COMMON for w in words)
    return ours >= max(at_home.values()) and common >= len(words) * IN_LANGUAGE
