"""What the cache stores and how it names it: an answer's scope, its entry, and its key.

Keys hold everything that changes the answer (command, model, persona, language, scope), hashed
into a namespace, then the question in its exact form.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scope:
    """What an answer depends on besides the prompt. ``scope`` is "global", or a viewer or
    conversation id for answers that must not be served to anyone else."""

    command: str
    model: str
    persona: str
    language: str
    scope: str = "global"
    namespace: str = field(init=False, repr=False, compare=False)  # the hash of all the above

    def __post_init__(self) -> None:
        raw = "\x1f".join((self.command, self.model, self.persona, self.language, self.scope))
        namespace = hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()
        object.__setattr__(self, "namespace", namespace)  # frozen: computed once, here


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    prompt: str
    ttl_s: float
    tokens_in: int = 0
    tokens_out: int = 0


_SPACES = re.compile(r"\s+")
_WORD_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")  # est-ce, not 2-2


def exact_form(prompt: str) -> str:
    """What makes two prompts "the same": case, spacing, hyphens inside words and the final
    punctuation do not count. Anything else (digits, operators) does."""
    text = unicodedata.normalize("NFKC", prompt).casefold().replace("’", "'")
    text = _WORD_HYPHEN.sub(" ", text)
    return _SPACES.sub(" ", text).strip().rstrip("?!.…。 ")


def entry_key(scope: Scope, prompt: str) -> str:
    digest = hashlib.blake2b(exact_form(prompt).encode(), digest_size=12).hexdigest()
    return f"{scope.namespace}:{digest}"


def namespace_of(key: str) -> str:
    """The scope's namespace an entry key starts with."""
    return key.partition(":")[0]
