"""Twitch OAuth tokens: where they are kept (``bot.data_dir``, mode 0600), and which one the bot
uses. The adapter and ``quipbot check`` judge the bot's token with the same rules, here.

The file holds one entry per Twitch user who granted this app access: the bot account
(``user:read:chat user:write:chat user:bot``) and the broadcasters (``channel:bot``). Tokens
may also come from ``twitch.access_token`` / ``twitch.refresh_token`` (headless installs); the
file wins, since it holds the latest refreshed pair.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twitchio.authentication import ValidateTokenPayload

    from config.settings import Settings, TwitchSettings

TOKEN_FILE = "twitch_tokens.json"
BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")
BROADCASTER_SCOPES = ("channel:bot",)
AUTOMOD_SCOPE = "moderation:read"  # the broadcaster's, for twitch.automod
AUTH_HINT = "run `quipbot twitch-auth`"
APPS_URL = "https://dev.twitch.tv/console/apps"


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


class NoBotToken(Exception):
    """No usable token for the bot account; the message says why and what to do."""


# Checks one (access, refresh, where) candidate: its details, or why it cannot be used.
Validate = Callable[[str, str, str], Awaitable["ValidateTokenPayload | str"]]
# Called with the user id of a valid token that belongs to another account.
Reject = Callable[[str], Awaitable[object]]


async def pick_bot_token(
    store: TokenStore,
    twitch: TwitchSettings,
    validate: Validate,
    *,
    reject: Reject | None = None,
) -> tuple[ValidateTokenPayload, str]:
    """The first candidate that Twitch accepts for twitch.bot_id, and where it came from.
    Raises NoBotToken with every reason the candidates failed."""
    try:
        candidates = token_candidates(store, twitch)
    except TokenFileError as exc:
        raise NoBotToken(str(exc)) from None
    if not candidates:
        raise NoBotToken(
            f"no token for the bot account (id {twitch.bot_id}): {AUTH_HINT}, or set "
            "twitch.access_token and twitch.refresh_token"
        )
    problems = []
    for access, refresh, where in candidates:
        validated = await validate(access, refresh, where)
        if isinstance(validated, str):
            problems.append(validated)
            continue
        if validated.user_id != twitch.bot_id:
            if reject is not None and validated.user_id:
                await reject(validated.user_id)
            problems.append(
                f"the token in {where} is for {validated.login} (id {validated.user_id}), "
                f"not for twitch.bot_id {twitch.bot_id}"
            )
            continue
        return validated, where
    raise NoBotToken(f"{'; '.join(problems)}: {AUTH_HINT} again")


def lacking_scopes(validated: ValidateTokenPayload) -> list[str]:
    return [scope for scope in BOT_SCOPES if scope not in validated.scopes]


def broadcaster_scopes(twitch: TwitchSettings) -> tuple[str, ...]:
    """What a broadcaster grants: channel:bot, and moderation:read for AutoMod checks."""
    return BROADCASTER_SCOPES + ((AUTOMOD_SCOPE,) if twitch.automod else ())
