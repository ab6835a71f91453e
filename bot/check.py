"""``quipbot check``: validate the config and reach every configured dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.adapters import adapter_checks
from bot.app import enabled_adapters
from bot.contracts import AdapterUnavailable, Finding
from config.settings import BackendSettings, Settings
from intelligence.redis_tier import redacted_url


async def check_sqlite(settings: Settings) -> Finding:
    from intelligence.store import Store

    path = settings.bot.database
    store = Store(path)  # opening it also applies (or refuses) the schema migrations
    try:
        await store.execute("CREATE TABLE IF NOT EXISTS _quipbot_check (x INTEGER)")
        await store.execute("DROP TABLE _quipbot_check")
    except Exception as exc:
        return Finding(
            False, "sqlite", f"cannot write {path} ({exc}); set bot.data_dir to a writable folder"
        )
    finally:
        await store.aclose()
    return Finding(True, "sqlite", f"{path} is writable")


async def check_redis(settings: Settings) -> Finding:
    from redis.asyncio import Redis

    url = settings.cache.redis_url
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return Finding(False, "redis", f"cannot reach {redacted_url(url)} ({exc})")
    finally:
        await client.aclose()
    return Finding(True, "redis", f"{redacted_url(url)} answers PING")


async def check_llm(name: str, backend: BackendSettings) -> Finding:
    from intelligence.llm import LLMClient, LLMError, loaded_model

    client = LLMClient(backend, name=name, max_retries=0)
    what = f"{name} ({backend.provider})"
    try:
        models = await client.list_models()
    except LLMError as exc:
        return Finding(False, what, str(exc).removeprefix(f"{name}: "))
    finally:
        await client.aclose()
    shown = ", ".join(models[:8]) + (" …" if len(models) > 8 else "")
    if backend.uses_loaded_model:
        chosen = loaded_model(models)
        if chosen is None:
            return Finding(
                False,
                what,
                f"{client.base_url} answers but has no chat model loaded (it offers: "
                f"{shown or 'nothing'}); load one in LM Studio, or set {name}.model",
            )
        return Finding(
            True,
            what,
            f"{client.base_url} answers; model {chosen}, the one it has loaded "
            f"(set {name}.model to choose); offers: {shown}",
        )
    if backend.model and backend.model not in models:
        return Finding(
            False,
            what,
            f"model {backend.model!r} is not served at "
            f"{client.base_url}; it offers: {shown or 'nothing'}",
        )
    if not backend.model and backend.provider == "mistral" and client.model not in models:
        return Finding(
            False,
            what,
            f"default model {client.model!r} is not offered; set llm.model to one of: {shown}",
        )
    return Finding(
        True, what, f"{client.base_url} answers; model {client.model}; offers: {shown or 'nothing'}"
    )


def check_config_completeness(settings: Settings) -> list[Finding]:
    findings = []
    for name, backend in (("llm", settings.llm), ("llm.fallback", settings.llm.fallback)):
        if backend and backend.provider == "mistral" and not backend.api_key.get_secret_value():
            findings.append(
                Finding(
                    False,
                    name,
                    f"{name}.provider is mistral but {name}.api_key "
                    "is not set (get one at console.mistral.ai)",
                )
            )
    if settings.discord.enabled and not settings.discord.token.get_secret_value():
        findings.append(
            Finding(False, "discord", "discord.enabled is true but discord.token is not set")
        )
    return findings


async def run_checks(settings: Settings, *, local: bool = False) -> list[Finding]:
    """Every check; with ``local``, only the data folder and Redis: a container's healthcheck
    runs often, and calling an LLM or a platform each time would spend quota."""
    probes: list[Callable[[Settings], Awaitable[Finding]]] = [check_sqlite]
    if settings.cache.redis_url:
        probes.append(check_redis)
    checks = [probe(settings) for probe in probes]
    if local:
        return list(await asyncio.gather(*checks))
    llm = settings.llm
    for name, backend in (("llm", llm), ("llm.fallback", llm.fallback)):
        if backend is not None and backend.provider != "offline":
            checks.append(check_llm(name, backend))
    findings = list(await asyncio.gather(*checks))
    findings += check_config_completeness(settings)
    for name in enabled_adapters(settings):
        if name == "console":
            continue
        try:
            findings += await adapter_checks(name, settings)
        except AdapterUnavailable as exc:
            findings.append(Finding(False, name, str(exc)))
    return findings
