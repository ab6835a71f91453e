"""Moderator commands: !cachestats, !cacheclear and !forget."""

from __future__ import annotations

from collections import Counter

from commands.definition import Arg, Component, Context, command
from commands.texts import duration, text
from commands.types import Reply, Role
from intelligence.ask import AskService
from intelligence.cache import TieredCache
from intelligence.jokes import JokeService
from intelligence.moderation import Banlist
from intelligence.resilience import LLMPool
from intelligence.sources import TIERS
from intelligence.stats import Stats

TWITCH_SAFE_CHARS = 450
MASK = "•"  # not a letter, so a masked phrase is no banphrase in disguise


def masked(phrase: str) -> str:
    """A banned phrase as it may be shown in chat: each word's first letter, then dots."""
    return " ".join(word[0] + MASK * (len(word) - 1) for word in phrase.split())


def stats_line(stats: Stats, cache: TieredCache, pool: LLMPool) -> str:
    """One line of figures that fits a Twitch message (≤ 450 chars). Never any secret."""
    tiers = " ".join(
        f"{tier} {stats.tier_hits[tier]}/{stats.tier_hits[tier] + stats.tier_misses[tier]}"
        f" ({stats.hit_rate(tier):.0%})"
        for tier in TIERS
        if stats.tier_hits[tier] + stats.tier_misses[tier]
    )
    sizes = cache.sizes()
    calls = sum(stats.llm_calls.values())
    by_source = " ".join(f"{name}={count}" for name, count in stats.sources.most_common())
    parts = [
        f"📊 up {duration(stats.uptime_s())}",
        f"answers {sum(stats.sources.values())}" + (f" ({by_source})" if by_source else ""),
        f"cache {tiers or 'unused'} · size {sizes['l1']} · learned {sizes['pinned']}"
        + ("" if cache.redis is None else f" · redis {'up' if cache.redis.up else 'DOWN'}"),
        f"llm {calls} calls {stats.tokens_in}+{stats.tokens_out} tok, saved {stats.saved_calls}"
        f" calls {stats.saved_tokens} tok, err {stats.error_rate():.0%}",
    ]
    if stats.blocked:
        layers: Counter[str] = Counter()
        for (_stage, layer), count in stats.blocked.items():
            layers[layer] += count
        parts.append("blocked " + " ".join(f"{n}={c}" for n, c in layers.most_common()))
    if stats.joke_rejects:
        rejects = stats.joke_rejects.most_common()
        parts.append("jokes refused " + " ".join(f"{n}={c}" for n, c in rejects))
    breakers = pool.breaker_states()
    if breakers:
        parts.append("breaker " + " ".join(f"{n}={s}" for n, s in breakers.items()))
    for name in ("ask", "joke"):
        if stats.commands[name]:
            p50, p95, p99 = stats.latency_ms(name)
            parts.append(f"{name} p50 {p50:.1f} p95 {p95:.1f} p99 {p99:.1f}ms")
    line = " · ".join(parts)
    return line if len(line) <= TWITCH_SAFE_CHARS else line[: TWITCH_SAFE_CHARS - 1] + "…"


class Moderation(Component):
    def __init__(
        self,
        stats: Stats,
        cache: TieredCache,
        pool: LLMPool,
        ask: AskService,
        jokes: JokeService,
        banlist: Banlist,
    ) -> None:
        self.stats = stats
        self.cache = cache
        self.pool = pool
        self.ask = ask
        self.jokes = jokes
        self.banlist = banlist

    @command(
        "cachestats",
        description={
            "en": "Cache and LLM figures (moderators)",
            "fr": "Chiffres du cache et du LLM (modérateurs)",
        },
        min_role=Role.MODERATOR,
    )
    async def cachestats(self, ctx: Context) -> Reply:
        return Reply(stats_line(self.stats, self.cache, self.pool))

    @command(
        "jokestats",
        description={
            "en": "Joke figures: the pool, the archive, the votes (moderators)",
            "fr": "Chiffres des blagues : la réserve, l'archive, les votes (modérateurs)",
        },
        min_role=Role.MODERATOR,
    )
    async def jokestats(self, ctx: Context) -> Reply:
        figures = await self.jokes.archive.figures()
        return Reply(
            f"🃏 pool {self.jokes.pool_size()} · told {self.stats.commands['joke']} since start"
            f" · archive {figures.jokes} (llm {figures.from_llm}) · retired {figures.retired}"
            f" · best {figures.best:+d}"
        )

    @command(
        "cacheclear",
        description={
            "en": "Empty the answer cache (moderators)",
            "fr": "Vide le cache des réponses (modérateurs)",
        },
        min_role=Role.MODERATOR,
    )
    async def cacheclear(self, ctx: Context) -> Reply:
        count = await self.cache.clear()
        return Reply(text(ctx.language, "cache_cleared", count=count))

    @command(
        "forget",
        aliases={"fr": ("oublie",)},
        description={
            "en": "Forget a learned answer (moderators)",
            "fr": "Oublie une réponse apprise (modérateurs)",
        },
        args=(Arg("question", {"en": "The question", "fr": "La question"}),),
        min_role=Role.MODERATOR,
        menu=False,
    )
    async def forget(self, ctx: Context) -> Reply:
        question = await self.ask.forget(ctx.args)
        if question is None:
            return Reply(text(ctx.language, "forget_none"))
        return Reply(text(ctx.language, "forgot", question=question))

    @command(
        "banphrase",
        description={
            "en": "Words the bot must never say: add, remove, list (moderators)",
            "fr": "Les mots que le bot ne doit jamais dire : add, remove, list (modérateurs)",
        },
        args=(
            Arg(
                "action",
                {"en": "add, remove or list", "fr": "add, remove ou list"},
                choices=(("add", "add"), ("remove", "remove"), ("list", "list")),
            ),
            Arg(
                "phrase",
                {"en": "The word or phrase", "fr": "Le mot ou la phrase"},
                required=False,
                max_chars=100,
            ),
        ),
        min_role=Role.MODERATOR,
        cooldown_s=0,
    )
    async def banphrase(self, ctx: Context) -> Reply:
        action, _, phrase = ctx.args.partition(" ")
        action, lang = action.lower(), ctx.language
        if action == "list":
            phrases = list(self.banlist.custom.values())
            if not phrases:
                return Reply(text(lang, "banphrase_none"))
            shown = ", ".join(masked(p) for p in phrases)
            line = text(lang, "banphrase_list", count=len(phrases), phrases=shown)
            return Reply(line if len(line) <= TWITCH_SAFE_CHARS else line[:449] + "…")
        if action not in ("add", "remove") or not phrase.strip():
            return ctx.usage()
        if action == "add":
            who = f"{ctx.message.platform}:{ctx.message.user_id}"
            try:
                added = await self.banlist.add(phrase, by=who)
            except ValueError as exc:
                return Reply(f"🚫 {exc}")
            key = "banphrase_added" if added else "banphrase_exists"
            return Reply(text(lang, key, phrase=masked(phrase)))
        removed = await self.banlist.remove(phrase)
        if removed is None:
            return Reply(text(lang, "banphrase_unknown", phrase=masked(phrase)))
        return Reply(text(lang, "banphrase_removed", phrase=masked(removed)))
