"""What the app and its platform adapters agree on. A leaf module: it imports nothing of quipbot,
so every adapter package can use it without importing the app (or each other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Adapter(Protocol):
    name: str

    async def run(self) -> None:
        """Serve until cancelled. A platform outage must not raise: reconnect instead."""

    def status(self) -> str:
        """ "up", "connecting", or "down: <reason>", for logs and /health."""


class AdapterUnavailable(Exception):
    """An enabled platform that cannot run: not part of this build, or unsafe as configured."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of ``quipbot check``."""

    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"
