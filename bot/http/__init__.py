"""The HTTP API (aiohttp): an OpenAI-compatible cached endpoint, the bot's own ``/chat`` and
commands, health, stats and Prometheus metrics; and ``quipbot check``.

The app uses only what this package exports; its modules are its own business."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.http.server import HttpAdapter, UnsafeBind, bind_problem, check

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["HttpAdapter", "check", "create"]


def create(app: App) -> HttpAdapter:
    problem = bind_problem(app.settings.http)
    if problem is not None:
        raise UnsafeBind(problem)
    return HttpAdapter(app)
