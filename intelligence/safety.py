"""Everything an LLM says is cleaned here before it can reach chat.

No chat commands (a leading ``/``, ``.`` or ``!`` would run ``/ban`` on Twitch), no mentions
(``@everyone`` pings a whole Discord server), no control or invisible characters, no secrets.
Length limits are the platforms' business: each adapter splits for its own limit.
"""

from __future__ import annotations

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
_KEEP = {"\n"}
# Control, format (zero-width, bidi overrides), private-use and surrogate code points: never
# shown in chat, and never let through from it.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})


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
        text = "".join(
            ch for ch in text if ch in _KEEP or unicodedata.category(ch) not in INVISIBLE_CATEGORIES
        )
        text = self.redact(text.replace("\t", " "))
        text = _DISCORD_MENTION.sub("", text)
        text = _AT_MENTION.sub("", text)
        if at_line_start:
            text = _COMMAND_START.sub(r"\1", text)
        else:  # a streamed piece that continues a line: only its own new lines are starts
            text = _COMMAND_AFTER_NEWLINE.sub("\n", text)
        return text

    async def stream(
        self, pieces: AsyncIterator[str], *, redact_only: bool = False
    ) -> AsyncIterator[str]:
        """Clean (or only redact) a stream piece by piece. Text is held back to the last space
        or new line, so a mention or a secret split across pieces is still seen whole."""
        pending = ""
        line_start = True
        async for piece in pieces:
            pending += piece
            cut = max(pending.rfind(" "), pending.rfind("\n"))
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
