"""Twitch's shapes and records, shared by the fake's parts."""

from __future__ import annotations

import asyncio
import heapq
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict, MultiDict

T = TypeVar("T")

CHAT_MESSAGE = "channel.chat.message"
DEFAULT_USER_SCOPES: tuple[str, ...] = ("user:read:chat", "user:write:chat", "user:bot")

# EventSub websocket close codes, as documented by Twitch.
CLOSE_INTERNAL_ERROR = 4000
CLOSE_INBOUND_TRAFFIC = 4001
CLOSE_CONNECTION_UNUSED = 4003
CLOSE_RECONNECT_GRACE_EXPIRED = 4004
CLOSE_INVALID_RECONNECT = 4007

DUPLICATE_MESSAGE = (
    "Your message was not sent because it is identical to the previous one you sent, "
    "less than 30 seconds ago."
)

_MENTION = re.compile(r"@(\w+)")


class VirtualClock:
    """Time that moves only when the test says so, for ``FakeTwitch(clock=...)`` and a bot's
    chat pacing: a test can go through Twitch's 30-second windows without waiting for them.
    ``sleep`` returns once ``advance`` has moved the clock past its deadline."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + seconds, self._count, wake))
        await wake

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)

    @property
    def next_wakeup(self) -> float | None:
        """When the earliest pending ``sleep`` ends (None: nobody sleeps)."""
        while self._sleepers and self._sleepers[0][2].done():  # cancelled sleeps
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to_next_wakeup(self) -> bool:
        """Move to the earliest pending wake-up; False when nobody sleeps."""
        wakeup = self.next_wakeup
        if wakeup is None:
            return False
        self.advance(max(0.0, wakeup - self.now))
        return True


class NoSubscriberError(RuntimeError):
    """An event was pushed but no connected websocket session subscribed to it in time."""


def _timestamp() -> str:
    # Twitch's websocket timestamps are RFC3339 with nanoseconds; keep 9 digits so parsers that
    # only cope with microseconds fail here rather than in production.
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def _new_session_id() -> str:
    return "AQoQ" + secrets.token_urlsafe(18)


@dataclass
class FakeUser:
    id: str
    login: str
    display_name: str
    color: str = "#1E90FF"
    created_at: str = "2016-12-14T20:32:28Z"

    def helix(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "display_name": self.display_name,
            "type": "",
            "broadcaster_type": "",
            "description": "",
            "profile_image_url": f"https://static-cdn.jtvnw.net/user-default-pictures/{self.id}.png",
            "offline_image_url": "",
            "view_count": 0,
            "created_at": self.created_at,
        }


@dataclass
class FakeToken:
    access_token: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    user_id: str | None = None  # None for app access tokens
    refresh_token: str | None = None
    expired: bool = False  # set by FakeTwitch.expire_token


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    json: Any
    time: float
    status: int | None = None  # filled in once the fake has answered

    @property
    def token(self) -> str | None:
        """The access token from the Authorization header, whatever its scheme."""
        return self.headers.get("Authorization", "").partition(" ")[2] or None


@dataclass
class SentChat:
    """One POST /helix/chat/messages that passed authentication (sent, dropped or refused)."""

    body: dict[str, Any]
    time: float
    token: str
    status: int = 0
    message_id: str | None = None
    is_sent: bool = False
    drop_code: str | None = None
    error: str | None = None

    @property
    def broadcaster_id(self) -> str:
        return str(self.body.get("broadcaster_id", ""))

    @property
    def sender_id(self) -> str:
        return str(self.body.get("sender_id", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    @property
    def reply_parent_message_id(self) -> str | None:
        return self.body.get("reply_parent_message_id")


@dataclass
class Subscription:
    id: str
    type: str
    version: str
    condition: dict[str, str]
    session_id: str
    user_id: str
    created_at: str = field(default_factory=_timestamp)
    status: str = "enabled"

    def helix(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "version": self.version,
            "condition": dict(self.condition),
            "created_at": self.created_at,
            "transport": {"method": "websocket", "session_id": self.session_id},
            "cost": 0,
        }


@dataclass
class Notification:
    session_id: str
    subscription_id: str
    subscription_type: str
    message_id: str
    event: dict[str, Any]
    time: float


@dataclass
class Connection:
    """One websocket connection accepted by the fake."""

    session_id: str
    time: float
    keepalive_timeout: int
    reconnect: bool  # True when the client followed a session_reconnect URL
    closed_at: float | None = None
    close_code: int | None = None


@dataclass
class _FailureRule:
    path: str
    method: str | None
    status: int
    message: str
    headers: dict[str, str]
    times: int


@dataclass(eq=False)
class _Session:
    id: str
    keepalive_timeout: int
    ws: web.WebSocketResponse
    request: web.Request
    connected_at: str = field(default_factory=_timestamp)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    last_sent: float = 0.0
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reconnect_token: str | None = None
    timers: set[asyncio.Task[None]] = field(default_factory=set)
    ended: bool = False


_JSON_BODY = web.RequestKey("fake_twitch_json", object)
_RECORD = web.RequestKey("fake_twitch_record", RecordedRequest)


def _matches(actual: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    return all(actual.get(key) == str(value) for key, value in (wanted or {}).items())


def _keepalive_seconds(raw: str | None) -> int:
    # Twitch clamps numeric values into 10..600 and refuses anything else; default 10.
    if raw is None:
        return 10
    return max(10, min(int(raw), 600))


def _fragment(kind: str, text: str, *, mention: dict[str, str] | None = None) -> dict[str, Any]:
    return {"type": kind, "text": text, "cheermote": None, "emote": None, "mention": mention}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _helix_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"error": HTTPStatus(status).phrase, "status": status, "message": message}
    return web.json_response(body, status=status, headers=headers)


def _oauth_error(status: int, message: str) -> web.Response:
    # id.twitch.tv errors carry no "error" field.
    return web.json_response({"status": status, "message": message}, status=status)
