"""Commands every bot has: !help, !ping, !uptime. They answer at once, with no LLM."""

from __future__ import annotations

from commands.definition import Arg, Component, Context, command
from commands.router import Router
from commands.texts import duration, text
from commands.types import Reply
from intelligence.stats import Stats


class Builtin(Component):
    def __init__(self, router: Router, stats: Stats) -> None:
        self.router = router
        self.stats = stats

    @command(
        "help",
        aliases={"fr": ("aide",)},
        description={
            "en": "The commands you may use, or how to use one",
            "fr": "Les commandes que tu peux utiliser, ou comment en utiliser une",
        },
        args=(
            Arg(
                "command",
                {"en": "A command to explain", "fr": "Une commande à expliquer"},
                required=False,
                max_chars=30,
            ),
        ),
        menu=False,
    )
    async def help(self, ctx: Context) -> Reply:
        router, lang = self.router, ctx.language
        typed = ctx.args.split(" ")[0].removeprefix(ctx.prefix).lower()
        asked = router.find(typed) if typed else None
        if asked is not None and ctx.message.level >= asked.min_role:
            return Reply(
                text(
                    lang,
                    "help_command",
                    command=f"{ctx.prefix}{typed}",  # as the viewer named it: !help joke → !joke
                    usage=f" {asked.usage}" if asked.usage else "",
                    description=asked.describe(lang),
                )
            )
        names = ", ".join(
            f"{ctx.prefix}{router.display_name(c)}" for c in router.visible_to(ctx.message.level)
        )
        return Reply(text(lang, "help", commands=names))

    @command(
        "ping",
        description={"en": "Is the bot there?", "fr": "Le bot est-il là ?"},
        menu=False,
    )
    async def ping(self, ctx: Context) -> Reply:
        return Reply(text(ctx.language, "pong"))

    @command(
        "uptime",
        description={"en": "How long the bot has been up", "fr": "Depuis quand le bot tourne"},
        menu=False,
    )
    async def uptime(self, ctx: Context) -> Reply:
        return Reply(text(ctx.language, "uptime", uptime=duration(self.stats.uptime_s())))
