"""Everything an LLM says is cleaned here before it can reach chat.

No chat commands (a leading ``/``, ``.`` or ``!`` would run ``/ban`` on Twitch), no mentions
(``@everyone`` pings a whole Discord server), no control or invisible characters, no terminal
escapes, no zalgo (at most two combining marks on a letter), no secrets, no reasoning blocks
(``<think>…</think>``, closed or not), no HTML tags and no AI disclaimers ("As an AI language
model, …").
What the text *says* is the moderation gate's business; its length, the router's and the
platforms'.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable

REDACTED = "[redacted]"

_COMMAND_START = re.compile(r"(^|\n)(?:[ \t]*[/.!\\]+)+[ \t]*")
_COMMAND_AFTER_NEWLINE = re.compile(r"\n(?:[ \t]*[/.!\\]+)+[ \t]*")
_DISCORD_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>")
_AT_MENTION = re.compile(r"@+(?=\w)")
_SECRET_PATTERNS = re.compile(
    r"sk-[A-Za-z0-9_\-]{16,}"  # OpenAI/Mistral-style keys
    r"|Bearer\s+[A-Za-z0-9._\-]{10,}"
    r"|oauth:[a-z0-9]{20,}"  # Twitch chat tokens
    r"|[MN][A-Za-z\d]{23,}\.[\w-]{6}\.[\w-]{27,}"  # Discord bot tokens
)
_REASONING_TAGS = "think|thinking|reasoning|reflection|thought"
_REASONING = re.compile(rf"<({_REASONING_TAGS})>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_REASONING_OPEN = re.compile(rf"<(?:{_REASONING_TAGS})>", re.IGNORECASE)
_REASONING_CLOSE = re.compile(rf"</(?:{_REASONING_TAGS})\s*>", re.IGNORECASE)
MAX_TAG = 16  # a tag split across stream pieces is held back until it is whole
# HTML a model may write (seen from SmolLM2: <video src=…>, <b></b>): chat shows it raw. Only
# HTML's own elements: "!ask <question>" in a usage line is no tag.
_HTML_ELEMENTS = (
    "a|abbr|audio|b|blockquote|body|br|button|center|code|del|div|em|embed|font|form|h[1-6]|"
    "head|hr|html|i|iframe|img|input|li|link|meta|object|ol|option|p|pre|s|script|select|small|"
    "source|span|strike|strong|style|sub|sup|svg|table|tbody|td|textarea|th|thead|title|tr|u|"
    "ul|video"
)
_HTML_TAG = re.compile(rf"</?(?:{_HTML_ELEMENTS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
# CSI (colours, cursor moves), OSC (titles, links) and two-character escapes, 7- and 8-bit.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[@-Z\\-_]"
)
MAX_MARKS = 2  # combining marks kept on one letter: enough for any language, not for zalgo
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{3,}")
# "As an AI language model, …", "En tant qu'IA, …": the clause goes, the answer stays.
_DISCLAIMER_CLAUSE = re.compile(
    r"\b(?:as an? (?:ai|artificial intelligence)(?: language)?(?: model| assistant)?"
    r"|as a (?:large )?language model"
    r"|en tant qu(?:e |')(?:ia|intelligence artificielle|mod[eè]le de langage"
    r"|assistant(?:e)? (?:ia|virtuel(?:le)?))),?\s*",
    re.IGNORECASE,
)
# "I'm just an AI and …", "Je suis une IA, …": the whole sentence goes.
_DISCLAIMER_SENTENCE = re.compile(
    r"[^.!?\n]*\b(?:i(?:'m| am) (?:just |only )?an? (?:ai|language model|artificial intelligence)"
    r"|je (?:ne )?suis (?:qu')?(?:juste )?(?:une?|qu'une?) (?:ia|intelligence artificielle"
    r"|mod[eè]le de langage)"
    r"|i (?:don'?t|do not) have (?:personal )?(?:opinions|feelings|emotions|beliefs)"
    r"|je n'ai pas d'(?:opinions?|[ée]motions|avis personnel|sentiments))"
    r"[^.!?\n]*[.!?]*\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")
# Control, format (zero-width, bidi overrides), private-use and surrogate code points: never
# shown in chat, and never let through from it.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})
# Control characters that are whitespace (tab, new line, …): where text is split into words,
# they separate words rather than vanish.
WHITESPACE_CONTROLS = "".join(
    ch for ch in map(chr, range(0x100)) if ch.isspace() and unicodedata.category(ch) == "Cc"
)
LONG_SENTENCE = 80  # past this, a sentence streams on at word boundaries (a disclaimer is shorter)
LEAK_WORDS = 8  # this many words in a row from the instructions: the answer leaks them
_WORD = re.compile(r"\w+")


def visible(text: str, *, keep: str = "") -> str:
    """``text`` without invisible characters (control, format, private-use, surrogates), but
    for those in ``keep``."""
    if text.isascii() and text.isprintable():  # most text: nothing to drop, ~20x faster
        return text
    return "".join(
        ch for ch in text if ch in keep or unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    )


class Sanitiser:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Only secrets long enough that redacting them cannot mangle ordinary words.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Only the secrets: for answers that are not chat (the HTTP API's, code included)."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SECRET_PATTERNS.sub(REDACTED, text)

    def clean(self, text: str, *, at_line_start: bool = True) -> str:
        text = _HTML_TAG.sub("", without_reasoning(text))
        if not text.isascii():
            text = _MARKS.sub(lambda marks: marks.group()[:MAX_MARKS], text)
        text = _ESCAPES.sub("", text)
        text = without_disclaimers(visible(text, keep="\n"))
        text = self.redact(text)
        text = _DISCORD_MENTION.sub("", text)
        text = _AT_MENTION.sub("", text)
        if at_line_start:
            text = _COMMAND_START.sub(r"\1", text)
        else:  # a streamed piece that continues a line: only its own new lines are starts
            text = _COMMAND_AFTER_NEWLINE.sub("\n", text)
        return text

    async def stream(
        self,
        pieces: AsyncIterator[str],
        *,
        redact_only: bool = False,
        whole_sentences: bool = True,
    ) -> AsyncIterator[str]:
        """Clean (or only redact) a stream piece by piece. Text is held back to the last space,
        so a mention or a secret split across pieces is still seen whole; with
        ``whole_sentences``, to the last sentence end (or, past a long sentence, the last
        space), so that a disclaimer is seen whole too. Reasoning blocks never come through."""
        pending = ""
        line_start = True
        if not redact_only:
            pieces = _reasoning_dropped(pieces)
        async for piece in pieces:
            pending += piece
            cut = max(pending.rfind(" "), pending.rfind("\n"))
            if whole_sentences and not redact_only:
                ends = [m.end() for m in _SENTENCE_END.finditer(pending)]
                if ends:
                    cut = ends[-1] - 1
                elif len(pending) < LONG_SENTENCE:
                    continue
            if cut < 0:
                continue
            ready, pending = pending[: cut + 1], pending[cut + 1 :]
            if redact_only:
                yield self.redact(ready)
                continue
            cleaned = self.clean(ready, at_line_start=line_start)
            if line_start and not cleaned.strip():
                continue  # still nothing but a stripped command prefix: keep looking
            line_start = cleaned.endswith("\n")
            yield cleaned
        if pending:
            cleaned = (
                self.redact(pending)
                if redact_only
                else self.clean(pending, at_line_start=line_start)
            )
            if cleaned:
                yield cleaned


def without_reasoning(text: str) -> str:
    """The text without its reasoning blocks: closed, still open at the end, or only closed
    (the template opened it: everything before ``</think>`` was reasoning)."""
    text = _REASONING.sub("", text)
    closing = list(_REASONING_CLOSE.finditer(text))
    return text[closing[-1].end() :] if closing else text


def without_disclaimers(text: str) -> str:
    kept = _DISCLAIMER_SENTENCE.sub("", text)
    kept = _DISCLAIMER_CLAUSE.sub("", kept)
    if kept != text and kept[:1].islower():
        kept = kept[0].upper() + kept[1:]
    return kept


async def _reasoning_dropped(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """A stream without its reasoning blocks, even when a tag arrives split across pieces."""
    buffer, inside = "", False
    async for piece in pieces:
        buffer += piece
        while buffer:
            if inside:
                end = _REASONING_CLOSE.search(buffer)
                if end is None:
                    buffer = buffer[-MAX_TAG:]  # the closing tag may be arriving
                    break
                buffer, inside = buffer[end.end() :], False
                continue
            start = _REASONING_OPEN.search(buffer)
            if start is not None:
                yield buffer[: start.start()]
                buffer, inside = buffer[start.end() :], True
                continue
            orphan = list(_REASONING_CLOSE.finditer(buffer))
            if orphan:  # reasoning the template opened: what is still held back goes
                buffer = buffer[orphan[-1].end() :]
                continue
            tag = buffer.rfind("<")
            if tag >= 0 and ">" not in buffer[tag:] and len(buffer) - tag < MAX_TAG:
                yield buffer[:tag]  # "<thi" may be the start of "<think>"
                buffer = buffer[tag:]
            else:
                yield buffer
                buffer = ""
            break
    if not inside and buffer:
        yield without_reasoning(buffer)


def repeats(text: str, instructions: str) -> bool:
    """Does ``text`` repeat ``LEAK_WORDS`` words in a row of ``instructions``?"""
    return not _spans(instructions).isdisjoint(_spans_of(_WORD.findall(text.casefold())))


@functools.lru_cache(maxsize=64)
def _spans(instructions: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_spans_of(_WORD.findall(instructions.casefold())))


def _spans_of(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + LEAK_WORDS]) for i in range(len(words) - LEAK_WORDS + 1)}
