"""Split text for Discord's 2000-character messages without breaking a code block.

Cuts fall at a paragraph, then a line, then a sentence, then a word boundary, preferring one
that fills at least half a message. A cut never lands inside a code block: it goes before the
block when there is text before it, and only a block longer than a message is split, closing
its fence at the end of one part and reopening it (with its language) at the start of the next.
"""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000
FENCE = "```"
CLOSE = "\n" + FENCE
LOOKAHEAD = len(FENCE)

# Boundaries by preference; a cut goes at the match's start (the whitespace is dropped).
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n"),  # paragraph
    re.compile(r"\n"),  # line
    re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]»]))\s"),  # sentence, closing quote kept
    re.compile(r"\s"),  # word
)
_LANGUAGE = re.compile(r"[A-Za-z0-9_+\-.#]*(?=\n)")


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Every part of ``text``, each at most ``limit`` characters and none blank."""
    parts = []
    rest = text.strip()
    while rest.strip():
        part, rest = take_part(rest, limit)
        if part.strip():
            parts.append(part)
    return parts


def take_part(text: str, limit: int = DISCORD_LIMIT) -> tuple[str, str]:
    """The first part of ``text`` that fits in ``limit`` characters, and what remains.

    The first part depends only on the first ``limit + LOOKAHEAD`` characters (a fence may
    straddle the limit), so a stream can take it as soon as that much has arrived. The rest
    keeps its trailing space for what comes next.
    """
    text = text.lstrip()
    if len(text.rstrip()) <= limit:
        return text.rstrip(), ""
    fences = _fence_starts(text)
    cut = _best_cut(text, limit, fences, min_fill=limit // 2)
    if cut is None:
        opening = _open_fence_at(limit, fences)
        if opening is not None and text[:opening].strip():
            cut = opening  # the block starts in the next message, whole if it fits
        elif opening is not None:
            return _split_block(text, limit, opening)
        else:
            cut = _best_cut(text, limit, fences, min_fill=1) or _hard_cut(text, limit, fences)
    return text[:cut].rstrip(), text[cut:].lstrip()


def _fence_starts(text: str) -> list[int]:
    """Where each ``` starts. Discord toggles a code block at every one, even mid-line."""
    starts, at = [], text.find(FENCE)
    while at >= 0:
        starts.append(at)
        at = text.find(FENCE, at + len(FENCE))
    return starts


def _open_fence_at(position: int, fences: list[int]) -> int | None:
    """The start of the code block that ``position`` falls in (or on a fence of), else None."""
    before = [f for f in fences if f < position]
    if len(before) % 2 == 1:
        return before[-1]
    if before and before[-1] + len(FENCE) > position:
        return before[-2]  # on a closing fence: still part of the block
    return None


def _best_cut(text: str, limit: int, fences: list[int], *, min_fill: int) -> int | None:
    window = text[: limit + 1]  # a boundary right after the limit still gives a full part
    for boundary in _BOUNDARIES:
        cuts = [
            m.start()
            for m in boundary.finditer(window)
            if min_fill <= m.start() <= limit and _open_fence_at(m.start(), fences) is None
        ]
        if cuts:
            return cuts[-1]
    return None


def _hard_cut(text: str, limit: int, fences: list[int]) -> int:
    """No boundary at all (one huge word): cut at the limit, but never through a fence."""
    cut = limit
    for fence in fences:
        if fence < cut < fence + len(FENCE):
            cut = fence
    return cut


def _split_block(text: str, limit: int, opening: int) -> tuple[str, str]:
    """Split a code block that starts the text and is longer than a message."""
    language = _LANGUAGE.match(text, opening + len(FENCE))
    lang = language.group() if language else ""
    body_start = opening + len(FENCE) + len(lang) + 1
    room = limit - len(CLOSE)
    cut = text.rfind("\n", body_start, room + 1)
    if cut <= body_start:  # one line longer than a message: cut it mid-line
        cut = room
    return text[:cut].rstrip("\n") + CLOSE, FENCE + lang + "\n" + text[cut:].lstrip("\n")
