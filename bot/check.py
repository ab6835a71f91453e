"""``quipbot check``: validate the config and reach every configured dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from config.settings import Settings


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


async def check_sqlite(settings: Settings) -> Finding:
    import aiosqlite

    path = settings.bot.data_dir / "quipbot.db"
    try:
        settings.bot.data_dir.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path) as db:
            await db.execute("CREATE TABLE IF NOT EXISTS _quipbot_check (x INTEGER)")
            await db.execute("DROP TABLE _quipbot_check")
            await db.commit()
    except Exception as exc:
        return Finding(
            False, "sqlite", f"cannot write {path} ({exc}); set bot.data_dir to a writable folder"
        )
    return Finding(True, "sqlite", f"{path} is writable")


async def check_redis(settings: Settings) -> Finding:
    from redis.asyncio import Redis

    url = settings.cache.redis_url
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return Finding(False, "redis", f"cannot reach {_hide_password(url)} ({exc})")
    finally:
        await client.aclose()
    return Finding(True, "redis", f"{_hide_password(url)} answers PING")


def check_platform_config(settings: Settings) -> list[Finding]:
    findings = []
    twitch = settings.twitch
    if twitch.enabled:
        missing = [k for k in ("client_id", "bot_id", "owner_id") if not getattr(twitch, k)]
        if not twitch.client_secret.get_secret_value():
            missing.append("client_secret")
        if not twitch.channels:
            missing.append("channels")
        if missing:
            findings.append(
                Finding(
                    False,
                    "twitch",
                    "twitch.enabled is true but "
                    f"{', '.join('twitch.' + k for k in missing)} not set",
                )
            )
    if settings.discord.enabled and not settings.discord.token.get_secret_value():
        findings.append(
            Finding(False, "discord", "discord.enabled is true but discord.token is not set")
        )
    return findings


def _hide_password(url: str) -> str:
    """redis://user:secret@host → redis://user:***@host."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


async def run_checks(settings: Settings) -> list[Finding]:
    probes: list[Callable[[Settings], Awaitable[Finding]]] = [check_sqlite]
    if settings.cache.redis_url:
        probes.append(check_redis)
    findings = list(await asyncio.gather(*(probe(settings) for probe in probes)))
    return findings + check_platform_config(settings)
