"""From a reply to Twitch chat messages, and from Twitch chat to roles and mentions.

Pure functions, no twitchio: the adapter and its tests share them.
"""

from __future__ import annotations

from collections.abc import Iterable

from commands.types import Role
from intelligence.safety import WHITESPACE_CONTROLS, visible

MAX_CHARS = 500  # Twitch refuses longer chat messages
MAX_PARTS = 2  # a longer answer floods chat; the rest is cut
ELLIPSIS = "…"

# Twitch runs a message starting with "/" or "." as a chat command (/ban, .timeout), and
# trims leading spaces first, so " . /ban x" is as dangerous as "/ban x".
_COMMAND_LEAD = " /."

_BADGE_ROLES = {
    "broadcaster": Role.BROADCASTER,
    "lead_moderator": Role.MODERATOR,
    "moderator": Role.MODERATOR,
    "vip": Role.VIP,
    "subscriber": Role.SUBSCRIBER,
    "founder": Role.SUBSCRIBER,  # the badge of the first subscribers replaces "subscriber"
}
MODERATOR_BADGES = frozenset({"broadcaster", "lead_moderator", "moderator"})


def safe_part(text: str, *, action: bool = False) -> str:
    """One line of plain chat: no invisible or control characters, whitespace collapsed, and no
    leading "/" or "." for Twitch to run as a command. ``action`` makes it "/me …", the only
    command the bot ever sends, and only when the caller chooses it."""
    cleaned = " ".join(visible(text, keep=WHITESPACE_CONTROLS).split()).lstrip(_COMMAND_LEAD)
    if action and cleaned:
        return "/me " + cleaned
    return cleaned


def chat_parts(text: str, limit: int = MAX_CHARS, max_parts: int = MAX_PARTS) -> list[str]:
    """Split at word boundaries into at most ``max_parts`` safe messages of at most ``limit``
    characters; what does not fit is cut, and the last part ends with "…"."""
    rest = safe_part(text)
    parts: list[str] = []
    while rest and len(parts) < max_parts:
        if len(rest) <= limit:
            head, rest = rest, ""
        elif len(parts) == max_parts - 1:
            head, rest = _words_within(rest, limit - len(ELLIPSIS)) + ELLIPSIS, ""
        else:
            head = _words_within(rest, limit)
            rest = rest[len(head) :]
        parts.append(head)  # the start of safe text is safe
        rest = rest.lstrip(_COMMAND_LEAD)  # the split moved the rest's start: it may be "/ban"
    return parts


def _words_within(text: str, limit: int) -> str:
    """The longest run of whole words that fits in ``limit``; a single giant word is cut."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut].rstrip() if cut > 0 else text[:limit]


def roles_from_badges(
    badge_sets: Iterable[str], *, is_broadcaster: bool = False
) -> frozenset[Role]:
    roles = {Role.VIEWER}
    roles.update(_BADGE_ROLES[b] for b in badge_sets if b in _BADGE_ROLES)
    if is_broadcaster:
        roles.add(Role.BROADCASTER)
    return frozenset(roles)


def mention_question(text: str, bot_login: str) -> str | None:
    """The question in "@bot question" (any case), "" for a bare "@bot", or None when the
    message does not start by mentioning the bot."""
    text = text.lstrip()
    end = len(bot_login) + 1
    if not bot_login or text[:1] != "@" or text[1:end].lower() != bot_login.lower():
        return None
    rest = text[end:]
    if rest[:1].isalnum() or rest[:1] == "_":  # "@quipbotfan" is somebody else
        return None
    return rest.lstrip(" ,:;-–—").strip()


def channel_logins(channels: list[str]) -> list[str]:
    """twitch.channels as Twitch logins: lower case, without "#", no repeats."""
    return list(dict.fromkeys(c.strip().lstrip("#").lower() for c in channels if c.strip()))
