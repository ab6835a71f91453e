"""A fake moderation model: ``POST /v1/moderations`` as Mistral's API or an OpenAI-compatible
server answers it, with latency, errors and an unreadable answer on demand.

Mistral: ``{"id", "model", "results": [{"categories": {...}, "category_scores": {...}}]}``.
OpenAI: the same results with ``"flagged"``, and category names like ``self-harm``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web

MISTRAL_CATEGORIES = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
)
OPENAI_CATEGORIES = (
    "sexual",
    "sexual/minors",
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "self-harm",
    "self-harm/intent",
    "violence",
)

# What the fake flags: a text → the categories it sets.
Judge = Callable[[str], set[str]]


class FakeModeration:
    def __init__(
        self,
        flavour: Literal["mistral", "openai"] = "mistral",
        *,
        judge: Judge = lambda text: set(),
        api_key: str | None = None,
    ) -> None:
        self.flavour = flavour
        self.judge = judge
        self.api_key = api_key
        self.latency_s = 0.0
        self.status = 200  # set to 500 (or anything) to fail every request
        self.garbled = False  # answer with JSON that is not a moderation result
        self.inputs: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> FakeModeration:
        app = web.Application()
        app.router.add_post("/v1/moderations", self._moderate)
        # A request the client gave up on stops at once: no slow answer outlives its test.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _moderate(self, request: web.Request) -> web.Response:
        if self.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.inputs.extend(texts)
        await asyncio.sleep(self.latency_s)
        if self.status != 200:
            return web.json_response({"error": "injected"}, status=self.status)
        if self.garbled:
            return web.Response(
                text=json.dumps({"results": "nope"}), content_type="application/json"
            )
        names = MISTRAL_CATEGORIES if self.flavour == "mistral" else OPENAI_CATEGORIES
        results = []
        for text in texts:
            flagged = self.judge(text)
            result: dict[str, Any] = {
                "categories": {name: name in flagged for name in names},
                "category_scores": {name: 0.97 if name in flagged else 0.01 for name in names},
            }
            if self.flavour == "openai":
                result["flagged"] = bool(flagged)
            results.append(result)
        model = body.get("model", "")
        return web.json_response({"id": uuid.uuid4().hex, "model": model, "results": results})
