"""Wiring: build the intelligence layer and the router from the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from commands.builtin import builtin_commands
from commands.fun import fun_commands
from commands.limits import Clock
from commands.moderation import moderation_commands
from commands.router import Router
from config.settings import BackendSettings, Settings
from intelligence.ask import AskService
from intelligence.cache import RedisTier, TieredCache
from intelligence.completions import CompletionService
from intelligence.jokes import JokeService
from intelligence.llm import LLMClient
from intelligence.offline import OfflineJokes
from intelligence.resilience import CircuitBreaker, LLMPool, SingleFlight
from intelligence.safety import Sanitiser
from intelligence.sessions import Sessions
from intelligence.stats import Stats
from intelligence.store import Store

if TYPE_CHECKING:
    from bot.contracts import Adapter


@dataclass
class App:
    settings: Settings
    stats: Stats
    pool: LLMPool
    cache: TieredCache
    flights: SingleFlight
    jokes: JokeService
    ask: AskService
    sessions: Sessions
    store: Store
    router: Router
    completions: CompletionService  # any OpenAI-style request, cached (the HTTP API)
    sanitiser: Sanitiser  # cleans what reaches chat; the adapters' last line of defence
    adapters: dict[str, Adapter] = field(default_factory=dict)  # the running platform adapters

    async def aclose(self) -> None:
        """Finish pending writes and release connections. Safe to call twice."""
        await self.jokes.aclose()
        await self.flights.aclose()
        await self.sessions.aclose()
        await self.pool.aclose()
        await self.store.aclose()
        if self.cache.redis is not None:
            await self.cache.redis.aclose()


def secrets_of(settings: Settings) -> list[str]:
    """Every configured secret value, so that none can ever be echoed to chat."""
    values = [
        settings.llm.api_key,
        settings.twitch.client_secret,
        settings.twitch.access_token,
        settings.twitch.refresh_token,
        settings.discord.token,
        settings.http.api_key,
    ]
    if settings.llm.fallback is not None:
        values.append(settings.llm.fallback.api_key)
    return [v.get_secret_value() for v in values if v.get_secret_value()]


def build_pool(settings: Settings, stats: Stats, clock: Clock) -> LLMPool:
    llm = settings.llm
    configured: list[tuple[str, BackendSettings]] = [("primary", llm)]
    if llm.fallback is not None:
        configured.append(("fallback", llm.fallback))
    backends = [
        (
            LLMClient(backend, name=f"{name}:{backend.provider}"),
            CircuitBreaker(llm.breaker_failures, llm.breaker_reset_s, clock),
        )
        for name, backend in configured
        if backend.provider != "offline"
    ]
    return LLMPool(backends, stats)


def build_app(
    settings: Settings, *, enforce_limits: bool = True, clock: Clock = time.monotonic
) -> App:
    stats = Stats(clock)
    pool = build_pool(settings, stats, clock)
    redis = RedisTier(settings.cache.redis_url, clock=clock) if settings.cache.redis_url else None
    cache = TieredCache(
        l1_max=settings.cache.l1_max,
        fuzzy_threshold=settings.cache.fuzzy_threshold,
        stats=stats,
        redis=redis,
        clock=clock,
    )
    flights = SingleFlight()
    store = Store(settings.bot.database)
    sessions = Sessions(clock)
    sanitiser = Sanitiser(secrets_of(settings))
    language, persona = settings.bot.language, settings.bot.persona
    jokes = JokeService(
        language=language,
        persona=persona,
        ttl_s=settings.cache.joke_ttl_s,
        max_jokes=settings.cache.joke_max,
        pool=pool,
        store=store,
        redis=redis,
        stats=stats,
        sanitiser=sanitiser,
        clock=clock,
    )
    ask = AskService(
        cache=cache,
        pool=pool,
        flights=flights,
        sanitiser=sanitiser,
        stats=stats,
        store=store,
        sessions=sessions,
        offline=OfflineJokes(language),
        persona=persona,
        language=language,
        ttl_s=settings.cache.ask_ttl_s,
        clock=clock,
    )
    router = Router(
        prefix=settings.bot.prefix,
        language=settings.bot.language,
        limits=settings.limits,
        stats=stats,
        enforce_limits=enforce_limits,
        clock=clock,
        store=store,
    )
    router.register(builtin_commands(router, stats))
    router.register(fun_commands(jokes, ask))
    router.register(moderation_commands(stats, cache, pool, ask))
    completions = CompletionService(
        cache=cache,
        pool=pool,
        flights=flights,
        stats=stats,
        sanitiser=sanitiser,
        ttl_s=settings.cache.ask_ttl_s,
    )
    return App(
        settings,
        stats,
        pool,
        cache,
        flights,
        jokes,
        ask,
        sessions,
        store,
        router,
        completions,
        sanitiser,
    )


def enabled_adapters(settings: Settings) -> list[str]:
    names = [n for n in ("twitch", "discord", "http") if getattr(settings, n).enabled]
    return names or ["console"]


def describe(settings: Settings) -> str:
    """One line saying what this process uses, printed at start-up."""
    llm = settings.llm
    backends = [
        f"{b.provider}({b.resolved_model} at {b.resolved_base_url})"
        for b in (llm, llm.fallback)
        if b is not None and b.provider != "offline"
    ]
    tiers = "l1+l2(redis)+fuzzy" if settings.cache.redis_url else "l1+fuzzy (memory only)"
    storage = settings.bot.database
    return (
        f"quipbot: adapters={','.join(enabled_adapters(settings))} "
        f"backend={' then '.join([*backends, 'offline'])} "
        f"cache={tiers} storage={storage} language={settings.bot.language}"
    )
