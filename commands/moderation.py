"""Moderator commands: !cachestats."""

from __future__ import annotations

from commands.router import Command, Context
from commands.texts import duration
from commands.types import Reply, Role
from intelligence.stats import Stats

TWITCH_SAFE_CHARS = 450


def stats_line(stats: Stats) -> str:
    """One line of figures that fits a Twitch message."""
    served = sum(stats.sources.values())
    by_source = " ".join(f"{name}={count}" for name, count in stats.sources.most_common())
    parts = [
        f"📊 up {duration(stats.uptime_s())}",
        f"answers {served}" + (f" ({by_source})" if by_source else ""),
    ]
    for command in stats.latency_commands():
        p50, p95, _ = stats.latency_ms(command)
        parts.append(f"{command} p50 {p50:.1f}ms p95 {p95:.1f}ms")
    errors = sum(stats.errors.values())
    if errors:
        parts.append(f"errors {errors}")
    line = " · ".join(parts)
    return line if len(line) <= TWITCH_SAFE_CHARS else line[: TWITCH_SAFE_CHARS - 1] + "…"


def moderation_commands(stats: Stats) -> list[Command]:
    async def cachestats(ctx: Context) -> Reply:
        return Reply(stats_line(stats))

    return [Command("cachestats", cachestats, min_role=Role.MODERATOR)]
