"""Wiring and lifecycle: build the intelligence layer and the router from the settings, start
what runs in the background, and stop it all cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from commands.builtin import Builtin
from commands.definition import Command
from commands.fun import Fun
from commands.limits import Clock
from commands.moderation import Moderation
from commands.output import Output
from commands.router import Router
from config.settings import BackendSettings, Settings
from intelligence import words
from intelligence.answers import AnswerPipeline
from intelligence.ask import AskService
from intelligence.cache import TieredCache
from intelligence.completions import CompletionService
from intelligence.jokes import JokeService
from intelligence.learned import LearnedAnswers
from intelligence.llm import LLMClient
from intelligence.moderation import Banlist, Gate, ModerationModel
from intelligence.offline import OfflineJokes
from intelligence.redis_tier import RedisTier
from intelligence.resilience import CircuitBreaker, LLMPool, SingleFlight
from intelligence.safety import Sanitiser
from intelligence.sessions import Sessions
from intelligence.stats import Stats
from intelligence.store import Store

if TYPE_CHECKING:
    from bot.contracts import Adapter


class StorageUnavailable(Exception):
    """bot.data_dir cannot be created or written, or its SQLite file cannot be opened."""


def _ensure_writable(folder: Path) -> None:
    """Create ``folder`` if missing and check that a file can be written in it."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


UPKEEP_EVERY_S = 300.0


@dataclass
class App:
    settings: Settings
    stats: Stats
    store: Store
    redis: RedisTier | None
    pool: LLMPool
    cache: TieredCache
    learned: LearnedAnswers
    flights: SingleFlight
    sanitiser: Sanitiser  # cleans what reaches chat; the adapters' last line of defence
    banlist: Banlist
    gate: Gate  # the moderation gate: everything the bot says passes it
    pipeline: AnswerPipeline  # the one way answers are made: cache, single-flight, LLM
    sessions: Sessions
    jokes: JokeService
    ask: AskService
    completions: CompletionService  # any OpenAI-style request, cached (the HTTP API)
    commands: list[Command]  # every command, defined once; the router and platforms derive
    router: Router
    adapters: dict[str, Adapter] = field(default_factory=dict)  # the running platform adapters
    _upkeep: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Open the database, load what earlier runs left, and start the background work."""
        await asyncio.to_thread(words.load)  # the word lists, off the event loop
        await self._open_storage()
        await self.banlist.start()
        await self.learned.load()
        await self.jokes.start()
        self.sessions.start()
        self._trim_history()
        self._upkeep = asyncio.get_running_loop().create_task(self._trim_history_forever())

    def _trim_history(self) -> None:
        """Retention: the database and its history stay bounded however long the bot runs."""
        keep_days, keep_rows = self.settings.bot.keep_days, self.settings.bot.keep_rows
        self.store.trim(keep_days=keep_days, keep_rows=keep_rows)
        self.jokes.prune(keep_rows=keep_rows)

    async def _trim_history_forever(self) -> None:
        while True:
            await asyncio.sleep(UPKEEP_EVERY_S)
            self._trim_history()

    async def _open_storage(self) -> None:
        """The data folder and its database, checked at start: one clear line then beats a
        traceback at the first write."""
        folder = self.settings.bot.data_dir
        try:
            await asyncio.to_thread(_ensure_writable, folder)
        except OSError as exc:
            raise StorageUnavailable(
                f"bot.data_dir: cannot create or write {folder} ({exc.strerror or exc}); "
                "set it to a writable folder"
            ) from None
        try:
            await self.store.open()
        except (OSError, sqlite3.Error, RuntimeError) as exc:  # RuntimeError: a newer schema
            raise StorageUnavailable(
                f"bot.data_dir: cannot open {self.store.path} ({exc}); "
                "move it away or set bot.data_dir to another folder"
            ) from None

    async def aclose(self) -> None:
        """Stop the background work, finish pending writes, release connections. Safe to call
        twice."""
        if self._upkeep is not None:
            self._upkeep.cancel()
            await asyncio.gather(self._upkeep, return_exceptions=True)
            self._upkeep = None
        await self.jokes.aclose()
        await self.flights.aclose()
        await self.sessions.aclose()
        await self.banlist.aclose()
        if self.gate.model is not None:
            await self.gate.model.aclose()
        await self.pool.aclose()
        await self.store.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def secrets_of(settings: Settings) -> list[str]:
    """Every configured secret value, so that none can ever be echoed to chat."""
    values = [
        settings.llm.api_key,
        settings.twitch.client_secret,
        settings.twitch.access_token,
        settings.twitch.refresh_token,
        settings.discord.token,
        settings.http.api_key,
        settings.moderation.api_key,
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
    """Everything, wired and not started: ``await app.start()`` before use."""
    cache_settings = settings.cache
    language, persona = settings.bot.language, settings.bot.persona
    stats = Stats(clock)
    store = Store(settings.bot.database)
    redis = RedisTier(cache_settings.redis_url, clock=clock) if cache_settings.redis_url else None
    pool = build_pool(settings, stats, clock)
    learned = LearnedAnswers(
        store=store,
        redis=redis,
        ttl_s=cache_settings.ask_ttl_s,
        fuzzy_threshold=cache_settings.fuzzy_threshold,
        clock=clock,
    )
    cache = TieredCache(
        l1_max=cache_settings.l1_max,
        fuzzy_threshold=cache_settings.fuzzy_threshold,
        stats=stats,
        redis=redis,
        learned=learned,
        clock=clock,
    )
    flights = SingleFlight()
    sanitiser = Sanitiser(secrets_of(settings))
    moderation = settings.moderation
    banlist = Banlist(store, redis)
    gate = Gate(
        banlist=banlist,
        model=ModerationModel(moderation) if moderation.provider != "off" else None,
        stats=stats,
        store=store,
        block_when_down=moderation.when_down == "block",
        cache_s=moderation.cache_s,
        clock=clock,
    )
    pipeline = AnswerPipeline(
        cache=cache, pool=pool, flights=flights, sanitiser=sanitiser, gate=gate, stats=stats
    )
    sessions = Sessions(clock)
    jokes = JokeService(
        language=language,
        persona=persona,
        settings=cache_settings,
        llm=pool,
        store=store,
        redis=redis,
        stats=stats,
        sanitiser=sanitiser,
        gate=gate,
        idle_s=settings.bot.idle_user_s,
        clock=clock,
    )
    ask = AskService(
        pipeline=pipeline,
        sessions=sessions,
        offline=OfflineJokes(language),
        persona=persona,
        language=language,
        ttl_s=cache_settings.ask_ttl_s,
    )
    router = Router(
        prefix=settings.bot.prefix,
        language=language,
        limits=settings.limits,
        stats=stats,
        enforce_limits=enforce_limits,
        clock=clock,
        store=store,
        output=Output(gate, language=language, max_answer_chars=settings.limits.max_answer_chars),
    )
    commands = [
        *Builtin(router, stats).commands(),
        *Fun(jokes, ask, gate).commands(),
        *Moderation(stats, cache, pool, ask, jokes, banlist).commands(),
    ]
    router.register(commands)
    return App(
        settings=settings,
        stats=stats,
        store=store,
        redis=redis,
        pool=pool,
        cache=cache,
        learned=learned,
        flights=flights,
        sanitiser=sanitiser,
        banlist=banlist,
        gate=gate,
        pipeline=pipeline,
        sessions=sessions,
        jokes=jokes,
        ask=ask,
        completions=CompletionService(
            pipeline=pipeline,
            ttl_s=cache_settings.ask_ttl_s,
            gate=gate,
            moderate=settings.http.moderate,
        ),
        commands=commands,
        router=router,
    )


def enabled_adapters(settings: Settings) -> list[str]:
    names = [n for n in ("twitch", "discord", "http") if getattr(settings, n).enabled]
    return names or ["console"]


def describe(settings: Settings) -> str:
    """One line saying what this process uses, printed at start-up."""
    llm = settings.llm
    backends = [
        f"{b.provider}({'its loaded model' if b.uses_loaded_model else b.resolved_model} "
        f"at {b.resolved_base_url})"
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
