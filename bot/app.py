"""Wiring: build the intelligence layer and the router from the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass

from commands.builtin import builtin_commands
from commands.fun import fun_commands
from commands.limits import Clock
from commands.moderation import moderation_commands
from commands.router import Router
from config.settings import Settings
from intelligence.jokes import JokeService
from intelligence.stats import Stats


@dataclass
class App:
    settings: Settings
    stats: Stats
    jokes: JokeService
    router: Router

    async def aclose(self) -> None:
        """Release what the app holds (connections, files). Safe to call twice."""


def build_app(
    settings: Settings, *, enforce_limits: bool = True, clock: Clock = time.monotonic
) -> App:
    stats = Stats(clock)
    jokes = JokeService(settings.bot.language)
    router = Router(
        prefix=settings.bot.prefix,
        language=settings.bot.language,
        limits=settings.limits,
        stats=stats,
        enforce_limits=enforce_limits,
        clock=clock,
    )
    router.register(builtin_commands(router, stats))
    router.register(fun_commands(jokes))
    router.register(moderation_commands(stats))
    return App(settings, stats, jokes, router)


def enabled_adapters(settings: Settings) -> list[str]:
    names = [n for n in ("twitch", "discord", "http") if getattr(settings, n).enabled]
    return names or ["console"]


def describe(settings: Settings) -> str:
    """One line saying what this process uses, printed at start-up."""
    llm = settings.llm
    backend = (
        llm.provider if llm.provider == "offline" else f"{llm.provider} ({llm.resolved_model})"
    )
    tiers = "l1+l2(redis)" if settings.cache.redis_url else "l1 (memory only)"
    storage = settings.bot.data_dir / "quipbot.db"
    return (
        f"quipbot: adapters={','.join(enabled_adapters(settings))} backend={backend} "
        f"cache={tiers} storage={storage} language={settings.bot.language}"
    )
