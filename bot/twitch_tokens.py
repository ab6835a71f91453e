"""Twitch OAuth tokens: where they are kept (``bot.data_dir``, mode 0600), and what
``quipbot check`` says about them.

The file holds one entry per Twitch user who granted this app access: the bot account
(``user:read:chat user:write:chat user:bot``) and the broadcasters (``channel:bot``). Tokens
may also come from ``twitch.access_token`` / ``twitch.refresh_token`` (headless installs); the
file wins, since it holds the latest refreshed pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from twitchio.authentication import OAuth, ValidateTokenPayload

    from bot.check import Finding
    from config.settings import Settings, TwitchSettings

TOKEN_FILE = "twitch_tokens.json"
BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")
BROADCASTER_SCOPES = ("channel:bot",)
AUTH_HINT = "run `quipbot twitch-auth`"
APPS_URL = "https://dev.twitch.tv/console/apps"
CHECK_TIMEOUT_S = 20.0


class TokenFileError(Exception):
    """The token file exists but cannot be read or written."""


@dataclass(slots=True)
class StoredToken:
    user_id: str
    login: str
    access_token: str
    refresh_token: str
    scopes: list[str] = field(default_factory=list)
    updated: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class TokenStore:
    """The token file. Every write replaces it whole, created with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_settings(cls, settings: Settings) -> TokenStore:
        return cls(settings.bot.data_dir / TOKEN_FILE)

    def load(self) -> dict[str, StoredToken]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {uid: StoredToken(user_id=uid, **entry) for uid, entry in raw["users"].items()}
        except FileNotFoundError:
            return {}
        except NotADirectoryError:
            raise TokenFileError(f"cannot read {self.path}: bot.data_dir is not a folder") from None
        except OSError as exc:
            raise TokenFileError(f"cannot read {self.path} ({exc.strerror})") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenFileError(
                f"{self.path} is damaged: delete it and {AUTH_HINT} again"
            ) from None

    def get(self, user_id: str) -> StoredToken | None:
        return self.load().get(user_id)

    def put(self, token: StoredToken) -> None:
        users = self.load()
        users[token.user_id] = token
        body = {
            "users": {
                uid: {k: v for k, v in asdict(t).items() if k != "user_id"}
                for uid, t in users.items()
            }
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # mkstemp creates the file with mode 0600: the tokens are never readable by others,
            # not even for an instant; os.replace then swaps it in whole.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(body, out, indent=1)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise TokenFileError(f"cannot write {self.path} ({exc.strerror})") from None


def token_candidates(store: TokenStore, twitch: TwitchSettings) -> list[tuple[str, str, str]]:
    """(access, refresh, where from) pairs for the bot account, best first."""
    candidates = []
    stored = store.get(twitch.bot_id)
    if stored is not None:
        candidates.append((stored.access_token, stored.refresh_token, str(store.path)))
    access = twitch.access_token.get_secret_value()
    refresh = twitch.refresh_token.get_secret_value()
    if access or refresh:
        candidates.append((access, refresh, "twitch.access_token"))
    return candidates


# ---------------------------------------------------------------------------- quipbot check

_KEY_HINTS = {
    "client_id": f"create an app at {APPS_URL} (category Chat Bot) and copy its Client ID",
    "client_secret": f"the app's Client Secret, from {APPS_URL}",
    "bot_id": "the bot account's numeric user id (`quipbot twitch-auth` prints it)",
    "owner_id": "your own (the broadcaster's) numeric user id (`quipbot twitch-auth` prints it)",
    "channels": 'the channel logins to join, e.g. ["mychannel"]',
}


async def check_twitch(settings: Settings) -> list[Finding]:
    """One line per problem: config keys, the app credentials, the bot token and its scopes,
    the channels, and whether each broadcaster granted channel:bot."""
    from bot.check import Finding

    twitch = settings.twitch
    values = {
        "client_id": twitch.client_id,
        "client_secret": twitch.client_secret.get_secret_value(),
        "bot_id": twitch.bot_id,
        "owner_id": twitch.owner_id,
        "channels": twitch.channels,
    }
    missing = [key for key, value in values.items() if not value]
    if missing:
        return [Finding(False, f"twitch.{key}", f"not set: {_KEY_HINTS[key]}") for key in missing]

    from twitchio import HTTPException
    from twitchio.authentication import OAuth

    oauth = OAuth(client_id=twitch.client_id, client_secret=twitch.client_secret.get_secret_value())
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            try:
                app_token = (await oauth.client_credentials_token()).access_token
            except HTTPException as exc:
                detail = twitch_error(exc)
                key = "twitch.client_secret" if "secret" in detail else "twitch.client_id"
                return [Finding(False, "twitch app", f"Twitch refused {key} ({detail})")]
            store = TokenStore.for_settings(settings)
            findings = [await _check_bot_token(oauth, store, twitch)]
            channels, finding = await _resolve_channels(twitch, app_token)
            if finding is not None:
                findings.append(finding)
            for channel_id, login in channels.items():
                findings.append(await _check_broadcaster(oauth, store, channel_id, login, twitch))
            return findings
    except TimeoutError:
        return [Finding(False, "twitch", f"Twitch did not answer within {CHECK_TIMEOUT_S:.0f} s")]
    except (aiohttp.ClientError, OSError) as exc:
        return [Finding(False, "twitch", f"cannot reach Twitch ({exc or type(exc).__name__})")]
    finally:
        await oauth.close()


async def _check_bot_token(oauth: OAuth, store: TokenStore, twitch: TwitchSettings) -> Finding:
    from bot.check import Finding

    what = "twitch bot token"
    try:
        candidates = token_candidates(store, twitch)
    except TokenFileError as exc:
        return Finding(False, what, str(exc))
    if not candidates:
        return Finding(
            False,
            what,
            f"no token for the bot account (id {twitch.bot_id}): {AUTH_HINT}, or set "
            "twitch.access_token and twitch.refresh_token",
        )
    problems = []
    for access, refresh, where in candidates:
        validated, note = await _validate_or_refresh(oauth, store, access, refresh)
        if validated is None:
            problems.append(f"the token in {where} {note}")
            continue
        if validated.user_id != twitch.bot_id:
            problems.append(
                f"the token in {where} is for {validated.login} (id {validated.user_id}), "
                f"not for twitch.bot_id {twitch.bot_id}"
            )
            continue
        lacking = [s for s in BOT_SCOPES if s not in validated.scopes]
        if lacking:
            return Finding(
                False,
                what,
                f"the bot's token lacks the scope(s) {' '.join(lacking)}: {AUTH_HINT} again and "
                "approve every permission with the bot account",
            )
        hours = validated.expires_in / 3600
        return Finding(
            True,
            what,
            f"{validated.login} (id {validated.user_id}) from {where}{note}, valid {hours:.1f} h "
            f"more, scopes {' '.join(BOT_SCOPES)}",
        )
    return Finding(False, what, f"{'; '.join(problems)}: {AUTH_HINT} again")


async def _validate_or_refresh(
    oauth: OAuth, store: TokenStore, access: str, refresh: str
) -> tuple[ValidateTokenPayload | None, str]:
    """The token's details, refreshing it (and saving the new pair) when it has expired."""
    from twitchio import HTTPException

    try:
        return await oauth.validate_token(access), ""
    except HTTPException as exc:
        if exc.status != 401:
            return None, f"could not be checked (Twitch answered {exc.status}: {twitch_error(exc)})"
    if not refresh:
        return None, "has expired and there is no refresh token"
    try:
        renewed = await oauth.refresh_token(refresh)
        validated = await oauth.validate_token(renewed.access_token)
    except HTTPException as exc:
        return None, f"has expired and Twitch refused to refresh it ({twitch_error(exc)})"
    if validated.user_id:
        with contextlib.suppress(TokenFileError):
            store.put(
                StoredToken(
                    validated.user_id,
                    validated.login or "",
                    renewed.access_token,
                    renewed.refresh_token,
                    list(validated.scopes),
                )
            )
    return validated, " (it had expired: refreshed it)"


async def _resolve_channels(
    twitch: TwitchSettings, app_token: str
) -> tuple[dict[str, str], Finding | None]:
    """{broadcaster id: login} for twitch.channels, and a finding for the unknown ones."""
    from twitchio.http import Route

    from bot.check import Finding

    logins = channel_logins(twitch.channels)
    headers = {"Client-Id": twitch.client_id, "Authorization": f"Bearer {app_token}"}
    query = [("login", login) for login in logins]
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(f"{Route.BASE}users", params=query, headers=headers) as response,
        ):
            response.raise_for_status()
            users = (await response.json())["data"]
    except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError) as exc:
        return {}, Finding(False, "twitch.channels", f"cannot look the channels up ({exc})")
    found = {user["login"]: user["id"] for user in users}
    unknown = [login for login in logins if login not in found]
    if unknown:
        names = ", ".join(unknown)
        return (
            {found[login]: login for login in logins if login in found},
            Finding(False, "twitch.channels", f"no Twitch channel named {names}"),
        )
    return {found[login]: login for login in logins}, None


async def _check_broadcaster(
    oauth: OAuth, store: TokenStore, channel_id: str, login: str, twitch: TwitchSettings
) -> Finding:
    """channel:bot is optional: without it (and without moderator status) the bot still
    chats, through its own user token, but without the chat-bot badge. So never a failure."""
    from bot.check import Finding

    what = f"twitch #{login}"
    if channel_id == twitch.bot_id:
        return Finding(True, what, "the bot chats in its own channel")
    try:
        stored = store.get(channel_id)
    except TokenFileError:
        stored = None
    granted = False
    if stored is not None:
        validated, _ = await _validate_or_refresh(
            oauth, store, stored.access_token, stored.refresh_token
        )
        granted = validated is not None and "channel:bot" in validated.scopes
    if granted:
        return Finding(True, what, f"{login} granted channel:bot: replies carry the bot badge")
    return Finding(
        True,
        what,
        f"{login} has not granted channel:bot: unless the bot is a moderator there, it replies "
        f"with its own token, without the bot badge ({AUTH_HINT} and open the broadcaster link)",
    )


def channel_logins(channels: list[str]) -> list[str]:
    """twitch.channels as Twitch logins: lower case, without "#", no repeats."""
    return list(dict.fromkeys(c.strip().lstrip("#").lower() for c in channels if c.strip()))


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
