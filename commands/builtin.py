"""Commands every bot has: !help, !ping, !uptime. They answer at once, with no LLM."""

from __future__ import annotations

from commands.router import Command, Context, Router
from commands.texts import duration, text
from commands.types import Reply
from intelligence.stats import Stats


def builtin_commands(router: Router, stats: Stats) -> list[Command]:
    async def help_(ctx: Context) -> Reply:
        names = ", ".join(
            f"{ctx.prefix}{router.display_name(c)}" for c in router.visible_to(ctx.message.level)
        )
        return Reply(text(ctx.language, "help", commands=names))

    async def ping(ctx: Context) -> Reply:
        return Reply(text(ctx.language, "pong"))

    async def uptime(ctx: Context) -> Reply:
        return Reply(text(ctx.language, "uptime", uptime=duration(stats.uptime_s())))

    return [
        Command("help", help_, aliases={"fr": ("aide",)}),
        Command("ping", ping),
        Command("uptime", uptime),
    ]
