"""Operations routes: ``/health``, ``/metrics``, ``/api/stats`` and ``/api/cache/clear``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.http.common import json_response
from bot.http.metrics import HttpMetrics
from intelligence.sources import TIERS

if TYPE_CHECKING:
    from bot.app import App

SQLITE_PROBE_S = 2.0


def stats_snapshot(app: App) -> dict[str, Any]:
    """The figures of ``!cachestats`` and ``/metrics``, as JSON."""
    stats = app.stats
    redis = app.cache.redis
    blocked: dict[str, dict[str, int]] = {}
    for (stage, layer), count in sorted(stats.blocked.items()):
        blocked.setdefault(stage, {})[layer] = count
    return {
        "uptime_s": round(stats.uptime_s(), 3),
        "answers": dict(stats.sources),
        "commands": dict(stats.commands),
        "command_errors": dict(stats.errors),
        "cache": {
            "tiers": {
                tier: {
                    "hits": stats.tier_hits[tier],
                    "misses": stats.tier_misses[tier],
                    "hit_rate": round(stats.hit_rate(tier), 4),
                }
                for tier in TIERS
            },
            "entries": app.cache.sizes(),
            "redis": "off" if redis is None else "up" if redis.up else "down",
        },
        "llm": {
            "model": app.pool.model,
            "calls": dict(stats.llm_calls),
            "errors": dict(stats.llm_errors),
            "error_rate": round(stats.error_rate(), 4),
            "tokens": {"prompt": stats.tokens_in, "completion": stats.tokens_out},
            "breakers": app.pool.breaker_states(),
        },
        "saved": {"calls": stats.saved_calls, "tokens": stats.saved_tokens},
        "jokes": {"rejected": dict(stats.joke_rejects)},
        "moderation": {
            "blocked": blocked,
            "model_errors": stats.moderation_errors,
            "channel_banphrases": len(app.banlist.custom),
        },
        "platforms": {
            "messages_in": dict(stats.messages_in),
            "replies_out": dict(stats.replies_out),
        },
        "latency_ms": {
            name: dict(zip(("p50", "p95", "p99"), stats.latency_ms(name), strict=True))
            for name in stats.latency_names()
        },
    }


class OpsRoutes:
    def __init__(self, app: App, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self.health)
        router.add_get("/metrics", self.prometheus)
        router.add_get("/api/stats", self.stats)
        router.add_post("/api/cache/clear", self.clear_cache)

    async def health(self, request: web.Request) -> web.Response:
        """200 while the bot can answer; 503 when every configured LLM is down, so new
        questions cannot be answered (cached ones still are). Offline mode is by design: 200."""
        app = self.app
        breakers = app.pool.breaker_states()
        can_answer = not breakers or app.pool.available()
        redis = "off"
        if app.cache.redis is not None:
            redis = "up" if await app.cache.redis.ping() else "down"
        sqlite = await self._sqlite()
        adapters = {name: adapter.status() for name, adapter in app.adapters.items()}
        degraded = (
            redis == "down"
            or sqlite != "ok"
            or any(state != "closed" for state in breakers.values())
            or any(status != "up" for status in adapters.values())
        )
        body = {
            "status": "down" if not can_answer else "degraded" if degraded else "ok",
            "can_answer": can_answer,
            "llm": {"model": app.pool.model, "breakers": breakers},
            "redis": redis,
            "sqlite": sqlite,
            "adapters": adapters,
            "uptime_s": round(app.stats.uptime_s(), 3),
        }
        return json_response(body, status=200 if can_answer else 503)

    async def _sqlite(self) -> str:
        try:
            await asyncio.wait_for(self.app.store.fetch("SELECT 1"), SQLITE_PROBE_S)
        except Exception as exc:
            return f"down: {type(exc).__name__}"
        return "ok" if self.app.store.healthy else "down: the last write failed"

    async def prometheus(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(stats_snapshot(self.app))

    async def clear_cache(self, request: web.Request) -> web.Response:
        removed = await self.app.cache.clear()
        return json_response({"cleared": removed})
