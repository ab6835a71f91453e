"""A moderation model behind ``POST /v1/moderations``: Mistral's (``mistral-moderation-latest``)
or any OpenAI-compatible one (``omni-moderation-latest``).

Both answer ``{"results": [{"categories": {name: bool}, "category_scores": {name: float}}]}``;
OpenAI's results also carry ``flagged``. A text is blocked by the first configured category the
model sets (or, with none configured, by any category it sets).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from config.settings import ModerationSettings

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 8000  # a chat answer is far shorter; longer input is cut, not sent whole


class ModerationUnavailable(Exception):
    """The model could not give a verdict (down, slow, or an answer it cannot read)."""


class ModerationModel:
    def __init__(self, settings: ModerationSettings) -> None:
        self.settings = settings
        self.url = f"{settings.resolved_base_url}/moderations"
        self.model = settings.resolved_model
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # no key in logs
        return f"ModerationModel({self.settings.provider} {self.model} at {self.url})"

    async def flagged(self, text: str) -> str | None:
        """The category that blocks ``text``, or None. Raises ModerationUnavailable."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        key = self.settings.api_key.get_secret_value()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": self.model, "input": [text[:MAX_INPUT_CHARS]]}
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                async with self._session.post(self.url, json=body, headers=headers) as resp:
                    if resp.status >= 400:
                        raise ModerationUnavailable(f"{self.url} answered HTTP {resp.status}")
                    payload = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise ModerationUnavailable(f"{self.url}: {reason}") from None
        return self._verdict(payload)

    def _verdict(self, payload: Any) -> str | None:
        try:
            result = payload["results"][0]
            categories: dict[str, Any] = result.get("categories") or {}
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModerationUnavailable(f"{self.url}: an answer without results") from None
        if not isinstance(categories, dict):
            raise ModerationUnavailable(f"{self.url}: categories is not an object")
        wanted = self.settings.categories or list(categories)
        for name in wanted:
            if categories.get(name) is True:
                return name
        if not self.settings.categories and result.get("flagged") is True:
            return "flagged"
        return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
