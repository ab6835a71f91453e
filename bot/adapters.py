"""Platform adapters: find each enabled one, and run them side by side under a supervisor.

A platform package (``bot.twitch``, ``bot.discord``, ``bot.http``) exports
``create(app) -> Adapter`` and ``async check(settings) -> list[Finding]`` (see ``contracts``).
It is imported only when its platform is enabled, so console mode never loads twitchio or
discord.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING

from bot.contracts import Adapter, AdapterUnavailable, Finding

if TYPE_CHECKING:
    from bot.app import App
    from config.settings import Settings

log = logging.getLogger(__name__)

PLATFORM_PACKAGES = {
    "twitch": "bot.twitch",
    "discord": "bot.discord",
    "http": "bot.http",
}
RESTART_DELAY_S = (1, 2, 5, 10, 30, 60)


def adapter_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(PLATFORM_PACKAGES[name])
    except ModuleNotFoundError as exc:
        if exc.name == PLATFORM_PACKAGES[name]:
            raise AdapterUnavailable(
                f"{name}.enabled is true, but this build has no {name} adapter"
            ) from None
        raise


async def adapter_checks(name: str, settings: Settings) -> list[Finding]:
    findings: list[Finding] = await adapter_module(name).check(settings)
    return findings


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
