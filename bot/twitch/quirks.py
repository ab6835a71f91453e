"""twitchio's rough edges, smoothed once for the adapter, the check and twitch-auth."""

from __future__ import annotations

import logging


def twitch_error(exc: Exception) -> str:
    """Twitch's own words for an error. Never str(exc): twitchio puts the request URL in it,
    and for token requests that URL carries the client secret and the refresh token."""
    extra = getattr(exc, "extra", None)
    if isinstance(extra, dict) and extra.get("message"):
        return str(extra["message"])
    return str(exc)


class _NoStarletteNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "StarletteAdapter" not in record.getMessage()


def quiet_twitchio() -> None:
    """twitchio warns on every new client that Starlette is not installed; quipbot uses
    twitchio's aiohttp adapter, so that line would only confuse users."""
    logger = logging.getLogger("twitchio.client")
    if not any(isinstance(f, _NoStarletteNotice) for f in logger.filters):
        logger.addFilter(_NoStarletteNotice())
