"""The banphrases in force: the built-in lists plus the channel's own, which moderators manage
with ``!banphrase``. The channel's own are committed to SQLite before the bot says "added", and
shared by instances through Redis (each one looks for a change every ``SYNC_S`` seconds)."""

from __future__ import annotations

import asyncio
import logging
import time

from intelligence.moderation.banphrases import BanphraseIndex, default_phrases, words_of
from intelligence.redis_tier import RedisTier
from intelligence.store import Store

log = logging.getLogger(__name__)

REDIS_SET = "quipbot:v1:banphrases"
REDIS_VERSION = "quipbot:v1:banphrases:version"
SYNC_S = 2.0
MAX_PHRASE_CHARS = 100
MAX_CUSTOM = 1000


def same_phrase(phrase: str) -> str:
    """What makes two phrases the same one: their folded words."""
    return " ".join(word for word, _ in words_of(phrase))


class Banlist:
    def __init__(self, store: Store, redis: RedisTier | None, *, sync_s: float = SYNC_S) -> None:
        self._store = store
        self._redis = redis
        self._sync_s = sync_s  # how often it looks for another instance's change
        self._defaults = default_phrases()
        self.custom: dict[str, str] = {}  # same_phrase → the phrase as a moderator wrote it
        self.index = BanphraseIndex(self._defaults)
        self._version: bytes | None = None
        self._syncing: asyncio.Task[None] | None = None

    def find(self, text: str) -> str | None:
        return self.index.find(text)

    async def start(self) -> None:
        """Load the channel's own list (SQLite, then what other instances added), and watch
        Redis for changes until ``aclose``."""
        rows = await self._store.fetch("SELECT phrase FROM banphrases ORDER BY added_at")
        if rows:  # else the index built with the defaults stands
            self._replace([row[0] for row in rows])
        if self._redis is None:
            return
        if self.custom:  # what this instance knows joins the shared list
            await self._redis.change_set(
                REDIS_SET, add=list(self.custom.values()), version=REDIS_VERSION
            )
        await self.sync()
        self._syncing = asyncio.get_running_loop().create_task(self._sync_forever())

    async def aclose(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
            await asyncio.gather(self._syncing, return_exceptions=True)
            self._syncing = None

    async def add(self, phrase: str, by: str) -> bool:
        """Add a phrase; False when it is already banned. Committed before it returns."""
        phrase = " ".join(phrase.split())[:MAX_PHRASE_CHARS]
        key = same_phrase(phrase)
        if not key or key in self.custom or self.index.find(phrase) == phrase:
            return False
        if len(self.custom) >= MAX_CUSTOM:
            raise ValueError(f"the channel's list is full ({MAX_CUSTOM} phrases)")
        await self._store.execute(
            "INSERT OR REPLACE INTO banphrases (phrase, added_by, added_at) VALUES (?, ?, ?)",
            (phrase, by, time.time()),
        )
        self._replace([*self.custom.values(), phrase])
        await self._publish(add=phrase)
        return True

    async def remove(self, phrase: str) -> str | None:
        """Remove a phrase of the channel's own list; the phrase as it was written, or None."""
        written = self.custom.get(same_phrase(phrase))
        if written is None:
            return None
        await self._store.execute("DELETE FROM banphrases WHERE phrase = ?", (written,))
        self._replace([p for p in self.custom.values() if p != written])
        await self._publish(remove=written)
        return written

    async def sync(self) -> None:
        """Take the shared list when another instance changed it."""
        if self._redis is None:
            return
        version = await self._redis.get(REDIS_VERSION)
        if version is None or version == self._version:
            return
        shared = await self._redis.members(REDIS_SET)
        if shared is None:
            return
        self._version = version
        gone = [p for p in self.custom.values() if p not in shared]
        new = [p for p in shared if same_phrase(p) not in self.custom]
        self._replace(shared)
        for phrase in gone:  # a restart starts from the same list
            self._store.write("DELETE FROM banphrases WHERE phrase = ?", (phrase,))
        for phrase in new:
            self._store.write(
                "INSERT OR IGNORE INTO banphrases (phrase, added_by, added_at) VALUES (?, ?, ?)",
                (phrase, "another instance", time.time()),
            )

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sync_s)
            try:
                await self.sync()
            except Exception:
                log.exception("banphrases: could not take the shared list")

    async def _publish(self, *, add: str | None = None, remove: str | None = None) -> None:
        if self._redis is None:
            return
        await self._redis.change_set(
            REDIS_SET,
            add=[add] if add else [],
            remove=[remove] if remove else [],
            version=REDIS_VERSION,
        )

    def _replace(self, custom: list[str]) -> None:
        keyed = ((same_phrase(phrase), phrase) for phrase in custom)
        self.custom = {key: phrase for key, phrase in keyed if key}
        self.index = BanphraseIndex([*self._defaults, *self.custom.values()])
