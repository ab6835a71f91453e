"""Platform adapters: the contract each keeps, and the supervisor that runs them side by side.

An adapter module (``bot/twitch_adapter.py``, ``bot/discord_adapter.py``, ``bot/http_api.py``)
exposes ``create(app) -> Adapter`` and may expose ``async check(settings) -> list[Finding]``
for ``quipbot check``. It is imported only when its platform is enabled, so console mode never
loads twitchio or discord.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.app import App
    from bot.check import Finding
    from config.settings import Settings

log = logging.getLogger(__name__)

ADAPTER_MODULES = {
    "twitch": "bot.twitch_adapter",
    "discord": "bot.discord_adapter",
    "http": "bot.http_api",
}
RESTART_DELAY_S = (1, 2, 5, 10, 30, 60)


class Adapter(Protocol):
    name: str

    async def run(self) -> None:
        """Serve until cancelled. A platform outage must not raise: reconnect instead."""

    def status(self) -> str:
        """ "up", "connecting", or "down: <reason>", for logs and /health."""


class AdapterUnavailable(Exception):
    """An enabled platform whose adapter is not part of this build."""


def adapter_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(ADAPTER_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == ADAPTER_MODULES[name]:
            raise AdapterUnavailable(
                f"{name}.enabled is true, but this build has no {name} adapter"
            ) from None
        raise


async def adapter_checks(name: str, settings: Settings) -> list[Finding]:
    check = getattr(adapter_module(name), "check", None)
    return await check(settings) if check is not None else []


async def run_adapters(app: App, names: list[str]) -> None:
    """Run every adapter until cancelled. One that crashes is restarted; the others go on."""
    adapters = [adapter_module(name).create(app) for name in names]
    app.adapters.update({adapter.name: adapter for adapter in adapters})
    await asyncio.gather(*(_supervise(adapter) for adapter in adapters))


async def _supervise(adapter: Adapter) -> None:
    failures = 0
    while True:
        try:
            await adapter.run()
            log.warning("%s adapter stopped by itself; restarting it", adapter.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s adapter crashed; the other platforms carry on", adapter.name)
        delay = RESTART_DELAY_S[min(failures, len(RESTART_DELAY_S) - 1)]
        failures += 1
        await asyncio.sleep(delay)
