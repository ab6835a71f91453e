"""``quipbot check`` for Twitch: config keys, the app credentials, the bot token and its scopes,
the channels, and whether each broadcaster granted channel:bot."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import aiohttp

from bot.contracts import Finding
from bot.twitch.quirks import twitch_error
from bot.twitch.text import channel_logins
from bot.twitch.tokens import (
    APPS_URL,
    AUTH_HINT,
    AUTOMOD_SCOPE,
    BOT_SCOPES,
    NoBotToken,
    StoredToken,
    TokenFileError,
    TokenStore,
    lacking_scopes,
    pick_bot_token,
)

if TYPE_CHECKING:
    from twitchio.authentication import OAuth, ValidateTokenPayload

    from config.settings import Settings, TwitchSettings

CHECK_TIMEOUT_S = 20.0

_KEY_HINTS = {
    "client_id": f"create an app at {APPS_URL} (category Chat Bot) and copy its Client ID",
    "client_secret": f"the app's Client Secret, from {APPS_URL}",
    "bot_id": "the bot account's numeric user id (`quipbot twitch-auth` prints it)",
    "owner_id": "your own (the broadcaster's) numeric user id (`quipbot twitch-auth` prints it)",
    "channels": 'the channel logins to join, e.g. ["mychannel"]',
}


async def check(settings: Settings) -> list[Finding]:
    """One line per problem: config keys, the app credentials, the bot token and its scopes,
    the channels, and whether each broadcaster granted channel:bot."""
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
                findings += await _check_broadcaster(oauth, store, channel_id, login, twitch)
            return findings
    except TimeoutError:
        return [Finding(False, "twitch", f"Twitch did not answer within {CHECK_TIMEOUT_S:.0f} s")]
    except (aiohttp.ClientError, OSError) as exc:
        return [Finding(False, "twitch", f"cannot reach Twitch ({exc or type(exc).__name__})")]
    finally:
        await oauth.close()


async def _check_bot_token(oauth: OAuth, store: TokenStore, twitch: TwitchSettings) -> Finding:
    what = "twitch bot token"
    notes: dict[str, str] = {}

    async def validate(access: str, refresh: str, where: str) -> ValidateTokenPayload | str:
        validated, note = await _validate_or_refresh(oauth, store, access, refresh)
        notes[where] = note
        return validated if validated is not None else f"the token in {where} {note}"

    try:
        validated, where = await pick_bot_token(store, twitch, validate)
    except NoBotToken as exc:
        return Finding(False, what, str(exc))
    lacking = lacking_scopes(validated)
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
        f"{validated.login} (id {validated.user_id}) from {where}{notes[where]}, valid "
        f"{hours:.1f} h more, scopes {' '.join(BOT_SCOPES)}",
    )


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
) -> list[Finding]:
    """channel:bot is optional: without it (and without moderator status) the bot still
    chats, through its own user token, but without the chat-bot badge. So never a failure.
    With twitch.automod, moderation:read is not optional."""
    what = f"twitch #{login}"
    scopes: set[str] = set()
    try:
        stored = store.get(channel_id)
    except TokenFileError:
        stored = None
    if stored is not None:
        validated, _ = await _validate_or_refresh(
            oauth, store, stored.access_token, stored.refresh_token
        )
        scopes = set(validated.scopes) if validated is not None else set()
    if channel_id == twitch.bot_id:
        findings = [Finding(True, what, "the bot chats in its own channel")]
    elif "channel:bot" in scopes:
        findings = [
            Finding(True, what, f"{login} granted channel:bot: replies carry the bot badge")
        ]
    else:
        findings = [
            Finding(
                True,
                what,
                f"{login} has not granted channel:bot: unless the bot is a moderator there, it "
                f"replies with its own token, without the bot badge ({AUTH_HINT} and open the "
                "broadcaster link)",
            )
        ]
    if twitch.automod:
        granted = AUTOMOD_SCOPE in scopes
        detail = (
            f"{login} granted {AUTOMOD_SCOPE}: AutoMod checks each LLM answer"
            if granted
            else f"{login} has not granted {AUTOMOD_SCOPE}, which twitch.automod needs "
            f"({AUTH_HINT} and open the broadcaster link)"
        )
        findings.append(Finding(granted, f"{what} automod", detail))
    return findings
