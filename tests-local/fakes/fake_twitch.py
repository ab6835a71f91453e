"""An in-process fake of the parts of Twitch that a twitchio 3 bot talks to.

It serves id.twitch.tv OAuth (``/oauth2/token``, ``/oauth2/validate``, and ``/oauth2/authorize``
as the ``logged_in_user`` would answer it), the Helix endpoints a chat bot uses (``users``,
``eventsub/subscriptions``, ``chat/messages``) and the EventSub websocket, on 127.0.0.1.
``patch_twitchio()`` points the real twitchio client at it, so tests run the real client offline.
It is deliberately as strict as Twitch where a lax fake would hide production bugs: tokens,
client ids, scopes and redirect URLs are checked, chat longer than 500 characters is refused,
duplicates within 30 s are dropped, subscriptions die with their socket, and the bot's own chat
messages come back as ``channel.chat.message`` notifications, as they do on Twitch.

Typical use (see tests-local/test_fake_twitch.py)::

    async with FakeTwitch() as fake:
        fake.add_user("100", "owner")
        fake.add_user("200", "quipbot")
        fake.add_moderator("100", "200")
        access, refresh = fake.add_user_token("200")
        with fake.patch_twitchio():
            ...  # start a twitchio Bot with fake.client_id / fake.client_secret
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlencode

import twitchio.eventsub.websockets
import twitchio.http
from aiohttp import WSMsgType, web
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


class FakeTwitch:
    """Local stand-in for id.twitch.tv, api.twitch.tv/helix and the EventSub websocket."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        user_token_lifetime: float = 4 * 3600,
        app_token_lifetime: float = 60 * 24 * 3600,
        rotate_refresh_tokens: bool = False,
        duplicate_window: float = 30.0,
        max_message_length: int = 500,
        echo_sent_messages: bool = True,
        keepalive_interval: float | None = None,
        unused_timeout: float | Literal["keepalive"] | None = "keepalive",
        reconnect_grace: float = 30.0,
        welcome_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        ``keepalive_interval`` overrides how often keepalives are sent (default: the
        keepalive_timeout_seconds the client asked for). ``unused_timeout`` is how long a new
        session may go without a subscription before Twitch closes it with 4003 ("keepalive":
        the session's keepalive timeout, as on Twitch; None: never). ``rotate_refresh_tokens``
        makes a used refresh token invalid (public-client behaviour). ``clock`` drives token
        expiry, the duplicate window and record times.
        """
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_token_lifetime = user_token_lifetime
        self.app_token_lifetime = app_token_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.duplicate_window = duplicate_window
        self.max_message_length = max_message_length
        self.echo_sent_messages = echo_sent_messages
        self.keepalive_interval = keepalive_interval
        self.unused_timeout = unused_timeout
        self.reconnect_grace = reconnect_grace
        self.welcome_delay = welcome_delay
        self.keepalives_enabled = True  # set False to simulate a silent (half-dead) socket
        self.refuse_websockets = False  # set True to answer websocket handshakes with 503
        # The browser side of the OAuth authorization code flow: who is logged in to Twitch,
        # and the app's registered redirect URLs (Twitch refuses any other).
        self.logged_in_user: str | None = None
        self.deny_authorization = False  # set True to press "Cancel" on the consent page
        self.redirect_uris: set[str] = set()
        self._clock = clock

        self.users: dict[str, FakeUser] = {}
        self.tokens: dict[str, FakeToken] = {}  # by access token
        self.moderators: dict[str, set[str]] = {}  # broadcaster id -> moderator ids

        self.requests: list[RecordedRequest] = []
        self.sent_chat: list[SentChat] = []
        self.notifications: list[Notification] = []
        self.connections: list[Connection] = []

        self._refresh_tokens: dict[str, FakeToken] = {}
        self._codes: dict[str, tuple[str, tuple[str, ...], str]] = {}  # code -> user, scopes, uri
        self._grants: dict[str, set[str]] = {}  # user id -> scopes granted to this client
        self._sessions: dict[str, _Session] = {}
        self._connection_of: dict[web.WebSocketResponse, Connection] = {}
        self._pending_reconnects: dict[str, _Session] = {}
        self._chat_log: dict[str, dict[str, Any]] = {}  # message id -> event, for replies
        self._recent_chat: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self._failures: list[_FailureRule] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/oauth2/token", self._oauth_token)
        app.router.add_get("/oauth2/authorize", self._oauth_authorize)
        app.router.add_get("/oauth2/validate", self._oauth_validate)
        app.router.add_get("/helix/users", self._helix(self._get_users))
        app.router.add_post("/helix/eventsub/subscriptions", self._helix(self._create_subscription))
        app.router.add_get("/helix/eventsub/subscriptions", self._helix(self._list_subscriptions))
        app.router.add_delete(
            "/helix/eventsub/subscriptions", self._helix(self._delete_subscription)
        )
        app.router.add_post("/helix/chat/messages", self._helix(self._post_chat_message))
        app.router.add_route("*", "/helix/{tail:.*}", self._helix(self._helix_not_found))
        app.router.add_get("/ws", self._websocket)

        # Websocket handlers live as long as their socket; don't let shutdown wait 60 s on them.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close every socket and stop serving. Close the bot first, or it will try to reconnect."""
        for task in list(self._tasks):
            task.cancel()
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await self._close_ws(session.ws, 1001, "server shutting down")
            self._end_session(session)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTwitch is not started; await fake.start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def helix_url(self) -> str:
        return f"{self.base_url}/helix/"  # twitchio appends paths without a leading slash

    @property
    def id_url(self) -> str:
        return f"{self.base_url}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @contextlib.contextmanager
    def patch_twitchio(self) -> Iterator[None]:
        """Point twitchio's Helix, OAuth and EventSub URLs at this fake; restore them on exit."""
        route = twitchio.http.Route
        websockets = twitchio.eventsub.websockets
        saved = (route.BASE, route.ID_BASE, websockets.WSS)
        route.BASE, route.ID_BASE, websockets.WSS = self.helix_url, self.id_url, self.ws_url
        try:
            yield
        finally:
            route.BASE, route.ID_BASE, websockets.WSS = saved

    # ------------------------------------------------------------------ world set-up

    def add_user(
        self, user_id: str, login: str, display_name: str | None = None, *, color: str = "#1E90FF"
    ) -> FakeUser:
        user = FakeUser(str(user_id), login.lower(), display_name or login, color)
        self.users[user.id] = user
        return user

    def add_moderator(self, broadcaster_id: str, user_id: str) -> None:
        self.moderators.setdefault(str(broadcaster_id), set()).add(str(user_id))

    def add_user_token(
        self,
        user_id: str,
        scopes: Sequence[str] = DEFAULT_USER_SCOPES,
        *,
        expires_in: float | None = None,
    ) -> tuple[str, str]:
        """Authorize this client for ``user_id``; returns (access token, refresh token)."""
        user_id = str(user_id)
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id!r}; call add_user first")
        token = self._issue_user_token(user_id, tuple(scopes), expires_in)
        assert token.refresh_token is not None
        return token.access_token, token.refresh_token

    def expire_token(self, access_token: str) -> None:
        """From now on the token gets 401 from /oauth2/validate and from Helix."""
        self.tokens[access_token].expired = True

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """The refresh token stops working, as when a user disconnects the app."""
        del self._refresh_tokens[refresh_token]

    def fail_next(
        self,
        path: str,
        status: int = 500,
        *,
        method: str | None = None,
        times: int = 1,
        message: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (e.g. "/helix/chat/messages") with an
        error in Twitch's shape, before any other check."""
        rule = _FailureRule(path, method, status, message, dict(headers or {}), times)
        self._failures.append(rule)

    # ------------------------------------------------------------------ inspection

    @property
    def sessions(self) -> list[str]:
        """Ids of the connected websocket sessions."""
        return list(self._sessions)

    @property
    def subscriptions(self) -> dict[str, list[Subscription]]:
        """Active subscriptions per connected session id."""
        return {sid: list(s.subscriptions.values()) for sid, s in self._sessions.items()}

    def active_subscriptions(self, subscription_type: str | None = None) -> list[Subscription]:
        return [
            sub
            for session in self._sessions.values()
            for sub in session.subscriptions.values()
            if subscription_type is None or sub.type == subscription_type
        ]

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str | None = None
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value; TimeoutError otherwise.

        Re-checked on every change to the fake and at least every 50 ms, so predicates over the
        bot's own state work too."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    async def wait_for_chat(self, n: int = 1, timeout: float = 5.0) -> list[SentChat]:
        """Wait until at least ``n`` chat POSTs were recorded; returns all of them."""
        await self.wait_for(lambda: len(self.sent_chat) >= n, timeout, what=f"{n} chat POST(s)")
        return list(self.sent_chat)

    async def wait_for_subscription(
        self,
        subscription_type: str = CHAT_MESSAGE,
        *,
        condition: Mapping[str, str] | None = None,
        exclude: Collection[str] = (),
        timeout: float = 5.0,
    ) -> Subscription:
        """Wait for an active subscription of that type (and condition) whose id isn't excluded."""

        def find() -> Subscription | None:
            for sub in self.active_subscriptions(subscription_type):
                if sub.id not in exclude and _matches(sub.condition, condition):
                    return sub
            return None

        found = await self.wait_for(find, timeout, what=f"a {subscription_type} subscription")
        assert found is not None
        return found

    # ------------------------------------------------------------------ pushing events

    async def send_chat(
        self,
        broadcaster_id: str,
        chatter_id: str,
        text: str,
        badges: Sequence[tuple[str, str] | tuple[str, str, str]] = (("moderator", "1"),),
        reply_to: str | None = None,
        *,
        shared_with: Sequence[str] = (),
        timeout: float = 5.0,
    ) -> str:
        """Have ``chatter_id`` say ``text`` in ``broadcaster_id``'s chat; returns the message id.

        Delivered to every session subscribed to channel.chat.message for that channel; waits up
        to ``timeout`` for one to exist, then raises NoSubscriberError. ``badges`` are (set_id,
        id[, info]) tuples; ``reply_to`` is the id of an earlier message, the bot's included.
        ``shared_with`` lists the other channels of a shared chat session: each also receives
        the message, with its own id and the ``source_*`` fields naming where it was sent.
        """
        source = self._user(broadcaster_id)
        event = self._chat_event(source, self._user(chatter_id), text, badges, reply_to)
        await self.send_event(
            CHAT_MESSAGE,
            event,
            condition={"broadcaster_user_id": str(broadcaster_id)},
            timeout=timeout,
        )
        for other_id in shared_with:
            copy = self._chat_event(self._user(other_id), self._user(chatter_id), text, (), None)
            copy.update(
                source_broadcaster_user_id=source.id,
                source_broadcaster_user_login=source.login,
                source_broadcaster_user_name=source.display_name,
                source_message_id=event["message_id"],
                source_badges=event["badges"],
                is_source_only=False,
            )
            condition = {"broadcaster_user_id": str(other_id)}
            await self.send_event(CHAT_MESSAGE, copy, condition=condition, timeout=timeout)
        return str(event["message_id"])

    async def send_chat_burst(self, broadcaster_id: str, lines: Sequence[tuple[str, str]]) -> int:
        """Deliver many (chatter id, text) chat messages back to back, as a busy chat would.

        Every frame is built first, so the burst itself costs the socket writes only (for
        benchmarks). Returns the number of frames written."""
        condition = {"broadcaster_user_id": str(broadcaster_id)}
        targets = [
            (session, sub)
            for session in self._sessions.values()
            for sub in session.subscriptions.values()
            if sub.type == CHAT_MESSAGE and _matches(sub.condition, condition)
        ]
        if not targets:
            raise NoSubscriberError(f"no session subscribed to chat in {broadcaster_id}")
        broadcaster = self._user(broadcaster_id)
        frames: list[tuple[_Session, str]] = []
        for chatter_id, text in lines:
            event = self._chat_event(broadcaster, self._user(chatter_id), text, (), None)
            for session, sub in targets:
                metadata = {"subscription_type": sub.type, "subscription_version": sub.version}
                payload = {"subscription": sub.helix(), "event": event}
                message = self._message("notification", payload, **metadata)
                frames.append((session, json.dumps(message)))
        written = 0
        for session, frame in frames:
            if not session.ws.closed:
                await session.ws.send_str(frame)
                written += 1
        return written

    async def send_event(
        self,
        subscription_type: str,
        event: dict[str, Any],
        *,
        condition: Mapping[str, str] | None = None,
        version: str | None = None,
        timeout: float = 5.0,
    ) -> int:
        """Push ``event`` to every subscription of that type whose condition includes
        ``condition``; returns the number of deliveries. Raises NoSubscriberError after
        ``timeout`` if nothing is subscribed."""

        def targets() -> bool:
            return any(
                sub.type == subscription_type
                and version in (None, sub.version)
                and _matches(sub.condition, condition)
                for sub in self.active_subscriptions()
            )

        try:
            await self.wait_for(targets, timeout)
        except TimeoutError:
            raise NoSubscriberError(
                f"no connected EventSub session subscribed to {subscription_type} with condition "
                f"{dict(condition or {})} within {timeout}s; active: "
                f"{[(s.type, s.condition) for s in self.active_subscriptions()]}"
            ) from None
        return await self._deliver(subscription_type, event, condition, version)

    async def drop_socket(
        self, session_id: str | None = None, *, code: int | None = CLOSE_INTERNAL_ERROR
    ) -> list[str]:
        """Close connected sockets (all, or one session) as an outage would and forget their
        subscriptions. ``code=None`` resets the TCP connection without a close frame."""
        targets = self._target_sessions(session_id)
        for session in targets:
            self._end_session(session)  # Twitch forgets the subscriptions at once
            if code is None:
                self._connection_of[session.ws].close_code = 1006  # what the client sees
                transport = session.request.transport
                if transport is not None:
                    transport.abort()
            else:
                await self._close_ws(session.ws, code, "fake outage")
        return [s.id for s in targets]

    async def send_session_reconnect(self, session_id: str | None = None) -> list[str]:
        """Send Twitch's session_reconnect to connected sessions. The client should connect to
        the reconnect_url, which keeps the session id and its subscriptions; until then events go
        to the old socket, which is closed with 4004 after ``reconnect_grace`` seconds."""
        targets = self._target_sessions(session_id)
        for session in targets:
            token = secrets.token_urlsafe(16)
            session.reconnect_token = token
            self._pending_reconnects[token] = session
            message = self._message(
                "session_reconnect",
                {
                    "session": {
                        "id": session.id,
                        "status": "reconnecting",
                        "keepalive_timeout_seconds": None,
                        "reconnect_url": f"{self.ws_url}?reconnect_token={token}",
                        "recovery_url": None,
                        "connected_at": session.connected_at,
                    }
                },
            )
            await self._send(session, session.ws, message)
            self._start_timer(session, self._expire_reconnect(session, session.ws, token))
        return [s.id for s in targets]

    async def revoke_subscription(
        self, subscription_id: str, status: str = "authorization_revoked"
    ) -> None:
        """Send a revocation message for an active subscription and drop it."""
        for session in self._sessions.values():
            sub = session.subscriptions.pop(subscription_id, None)
            if sub is None:
                continue
            sub.status = status
            metadata = {"subscription_type": sub.type, "subscription_version": sub.version}
            message = self._message("revocation", {"subscription": sub.helix()}, **metadata)
            await self._send(session, session.ws, message)
            self._notify()
            return
        raise KeyError(f"no active subscription {subscription_id!r}")

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
        request[_JSON_BODY] = body
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.query),
            headers=CIMultiDict(request.headers),
            json=body,
            time=self._clock(),
        )
        request[_RECORD] = record
        self.requests.append(record)
        self._notify()

        response: web.StreamResponse
        injected = self._injected_failure(request)
        if injected is not None:
            response = injected
        else:
            response = await handler(request)
        if record.status is None:
            record.status = response.status
        self._notify()
        return response

    def _injected_failure(self, request: web.Request) -> web.Response | None:
        for rule in self._failures:
            if rule.path == request.path and rule.method in (None, request.method):
                rule.times -= 1
                if rule.times <= 0:
                    self._failures.remove(rule)
                if request.path.startswith("/oauth2/"):
                    return _oauth_error(rule.status, rule.message or "injected failure")
                return _helix_error(rule.status, rule.message, rule.headers)
        return None

    def _helix(
        self, handler: Callable[[web.Request, FakeToken], Any]
    ) -> Callable[[web.Request], Any]:
        """Wrap a Helix handler with Twitch's Client-Id / bearer token checks."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not value:
                return _helix_error(401, "OAuth token is missing")
            token = self._valid_token(value)
            if token is None:
                # twitchio refreshes only on this exact message (case-insensitively).
                return _helix_error(401, "Invalid OAuth token")
            client_id = request.headers.get("Client-Id")
            if not client_id:
                return _helix_error(401, "Client-Id header required")
            if client_id != token.client_id:
                return _helix_error(401, "Client ID and OAuth token do not match")
            response: web.StreamResponse = await handler(request, token)
            return response

        return wrapped

    # ------------------------------------------------------------------ OAuth

    async def _oauth_token(self, request: web.Request) -> web.Response:
        # twitchio sends the parameters in the query string; Twitch also accepts a form body.
        params: MultiDict[str] = MultiDict(request.query)
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params.add(key, value)

        if params.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid client")
        if params.get("client_secret") != self.client_secret:
            return _oauth_error(403, "invalid client secret")

        grant_type = params.get("grant_type")
        if grant_type == "client_credentials":
            token = FakeToken(
                access_token=secrets.token_hex(15),
                client_id=self.client_id,
                scopes=(),
                expires_at=self._clock() + self.app_token_lifetime,
            )
            self.tokens[token.access_token] = token
            return _json(
                {
                    "access_token": token.access_token,
                    "expires_in": int(self.app_token_lifetime),
                    "token_type": "bearer",
                }
            )
        if grant_type == "refresh_token":
            old = self._refresh_tokens.get(params.get("refresh_token", ""))
            if old is None or old.user_id is None:
                return _oauth_error(400, "Invalid refresh token")
            if self.rotate_refresh_tokens:
                assert old.refresh_token is not None
                del self._refresh_tokens[old.refresh_token]
            new = self._issue_user_token(old.user_id, old.scopes, None)
            return _json(
                {
                    "access_token": new.access_token,
                    "refresh_token": new.refresh_token,
                    "expires_in": int(self.user_token_lifetime),
                    "scope": list(new.scopes),
                    "token_type": "bearer",
                }
            )
        if grant_type == "authorization_code":
            grant = self._codes.pop(params.get("code", ""), None)
            if grant is None:
                return _oauth_error(400, "Invalid authorization code")
            user_id, scopes, redirect_uri = grant
            if params.get("redirect_uri") != redirect_uri:
                return _oauth_error(400, "Parameter redirect_uri does not match registered URI")
            token = self._issue_user_token(user_id, scopes, None)
            return _json(
                {
                    "access_token": token.access_token,
                    "refresh_token": token.refresh_token,
                    "expires_in": int(self.user_token_lifetime),
                    "scope": list(scopes),
                    "token_type": "bearer",
                }
            )
        return _oauth_error(400, "unsupported grant type")

    async def _oauth_authorize(self, request: web.Request) -> web.StreamResponse:
        """The consent page, answered at once for ``logged_in_user``: a redirect to the app's
        redirect_uri with a one-time code (or the error Twitch sends when the user cancels)."""
        query = request.query
        if query.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid client")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return _oauth_error(400, "redirect_mismatch")
        if query.get("response_type") != "code":
            return _oauth_error(400, "unsupported response_type")
        if self.logged_in_user is None:
            return web.Response(status=200, text="Log in to Twitch")
        state = query.get("state", "")
        if self.deny_authorization:
            denied = {
                "error": "access_denied",
                "error_description": "The user denied you access",
                "state": state,
            }
            raise web.HTTPFound(f"{redirect_uri}?{urlencode(denied)}")
        scopes = tuple(query.get("scope", "").split())
        code = secrets.token_hex(15)
        self._codes[code] = (self.logged_in_user, scopes, redirect_uri)
        answer = {"code": code, "scope": " ".join(scopes), "state": state}
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    async def _oauth_validate(self, request: web.Request) -> web.Response:
        # twitchio sends "OAuth x" or, through its managed client, "Bearer x": accept both.
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("oauth", "bearer") or not value:
            return _oauth_error(401, "missing authorization token")
        token = self._valid_token(value)
        if token is None:
            return _oauth_error(401, "invalid access token")
        payload: dict[str, Any] = {
            "client_id": token.client_id,
            "scopes": list(token.scopes),
            "expires_in": max(0, int(token.expires_at - self._clock())),
        }
        if token.user_id is not None:
            payload["login"] = self.users[token.user_id].login
            payload["user_id"] = token.user_id
        return _json(payload)

    def _issue_user_token(
        self, user_id: str, scopes: tuple[str, ...], expires_in: float | None
    ) -> FakeToken:
        token = FakeToken(
            access_token=secrets.token_hex(15),
            client_id=self.client_id,
            scopes=scopes,
            expires_at=self._clock() + (expires_in or self.user_token_lifetime),
            user_id=user_id,
            refresh_token=secrets.token_hex(25),
        )
        self.tokens[token.access_token] = token
        assert token.refresh_token is not None
        self._refresh_tokens[token.refresh_token] = token
        self._grants.setdefault(user_id, set()).update(scopes)
        return token

    def _valid_token(self, access_token: str) -> FakeToken | None:
        token = self.tokens.get(access_token)
        if token is None or token.expired or token.expires_at <= self._clock():
            return None
        return token

    # ------------------------------------------------------------------ Helix

    async def _get_users(self, request: web.Request, token: FakeToken) -> web.Response:
        ids = request.query.getall("id", [])
        logins = [login.lower() for login in request.query.getall("login", [])]
        if len(ids) + len(logins) > 100:
            return _helix_error(400, "The sum of the id and login parameters must not exceed 100")
        if not ids and not logins:
            if token.user_id is None:
                return _helix_error(400, "Must provide an ID, Login or OAuth Token")
            ids = [token.user_id]
        found = [u.helix() for u in self.users.values() if u.id in ids or u.login in logins]
        return _json({"data": found})

    async def _create_subscription(self, request: web.Request, token: FakeToken) -> web.Response:
        body = request[_JSON_BODY]
        if not isinstance(body, dict):
            return _helix_error(400, "request body must be JSON")
        sub_type, version = body.get("type"), body.get("version")
        condition, transport = body.get("condition"), body.get("transport")
        if not sub_type or not version or not isinstance(condition, dict):
            return _helix_error(400, "type, version and condition are required")
        if not isinstance(transport, dict) or transport.get("method") != "websocket":
            return _helix_error(400, "the fake only supports the websocket transport")
        if token.user_id is None:
            return _helix_error(400, "invalid transport and auth combination")
        session = self._sessions.get(str(transport.get("session_id", "")))
        if session is None:
            return _helix_error(
                400, "websocket transport session does not exist or has already disconnected"
            )
        condition = {str(k): str(v) for k, v in condition.items()}
        if sub_type == CHAT_MESSAGE:
            if version != "1":
                return _helix_error(400, f"unsupported version {version!r} for {sub_type}")
            if not condition.get("broadcaster_user_id") or not condition.get("user_id"):
                return _helix_error(400, "condition needs broadcaster_user_id and user_id")
            if condition["user_id"] != token.user_id or "user:read:chat" not in token.scopes:
                return _helix_error(403, "subscription missing proper authorization")
        for existing in session.subscriptions.values():
            if (existing.type, existing.version, existing.condition) == (
                sub_type,
                version,
                condition,
            ):
                return _helix_error(409, "subscription already exists")

        sub = Subscription(
            id=str(uuid.uuid4()),
            type=str(sub_type),
            version=str(version),
            condition=condition,
            session_id=session.id,
            user_id=token.user_id,
        )
        session.subscriptions[sub.id] = sub
        self._notify()
        data = sub.helix()
        data["transport"]["connected_at"] = session.connected_at
        total = sum(1 for s in self.active_subscriptions() if s.user_id == token.user_id)
        body = {"data": [data], "total": total, "total_cost": 0, "max_total_cost": 10}
        return _json(body, status=202)

    async def _list_subscriptions(self, request: web.Request, token: FakeToken) -> web.Response:
        wanted_type = request.query.get("type")
        subs = [
            s.helix()
            for s in self.active_subscriptions(wanted_type)
            if token.user_id is None or s.user_id == token.user_id
        ]
        body = {
            "data": subs,
            "total": len(subs),
            "total_cost": 0,
            "max_total_cost": 10,
            "pagination": {},
        }
        return _json(body)

    async def _delete_subscription(self, request: web.Request, token: FakeToken) -> web.Response:
        sub_id = request.query.get("id", "")
        for session in self._sessions.values():
            sub = session.subscriptions.get(sub_id)
            if sub is not None and token.user_id in (None, sub.user_id):
                del session.subscriptions[sub_id]
                self._notify()
                return web.Response(status=204)
        return _helix_error(404, "subscription not found")

    async def _post_chat_message(self, request: web.Request, token: FakeToken) -> web.Response:
        body = request[_JSON_BODY] if isinstance(request[_JSON_BODY], dict) else {}
        record = SentChat(body=body, time=self._clock(), token=token.access_token)
        response = self._chat_outcome(record, token)
        record.status = response.status
        self.sent_chat.append(record)
        self._notify()
        return response

    def _chat_outcome(self, record: SentChat, token: FakeToken) -> web.Response:
        for name in ("broadcaster_id", "sender_id", "message"):
            if not record.body.get(name):
                return self._refuse(record, 400, f'Missing required parameter "{name}"')
        broadcaster_id, sender_id, text = record.broadcaster_id, record.sender_id, record.message
        if broadcaster_id not in self.users or sender_id not in self.users:
            return self._refuse(record, 400, "The ID in broadcaster_id or sender_id is not valid")

        if token.user_id is not None:
            if token.user_id != sender_id:
                message = "The ID in sender_id must match the user ID in the access token"
                return self._refuse(record, 401, message)
            if "user:write:chat" not in token.scopes:
                return self._refuse(record, 401, "Missing scope: user:write:chat")
        else:
            # App token: the sender must have granted user:write:chat and user:bot, and the
            # broadcaster channel:bot unless the sender is a moderator or the broadcaster.
            granted = self._grants.get(sender_id, set())
            for scope in ("user:write:chat", "user:bot"):
                if scope not in granted:
                    return self._refuse(record, 401, f"Missing scope: {scope}")
            if not (
                sender_id == broadcaster_id
                or sender_id in self.moderators.get(broadcaster_id, set())
                or "channel:bot" in self._grants.get(broadcaster_id, set())
            ):
                message = "The sender is not permitted to send chat messages to this chat room"
                return self._refuse(record, 403, message)

        if len(text) > self.max_message_length:
            limit = self.max_message_length
            message = f'The parameter "message" must not exceed {limit} characters'
            return self._refuse(record, 400, message)
        parent_id = record.reply_parent_message_id
        if parent_id is not None:
            parent = self._chat_log.get(parent_id)
            if parent is None or parent["broadcaster_user_id"] != broadcaster_id:
                message = "The reply_parent_message_id is not a message in this chat room"
                return self._refuse(record, 400, message)

        now = self._clock()
        key = (broadcaster_id, sender_id)
        recent = [
            (t, m) for t, m in self._recent_chat.get(key, []) if now - t < self.duplicate_window
        ]
        self._recent_chat[key] = recent
        if any(m == text for _, m in recent):
            record.drop_code = "msg_duplicate"
            drop = {"code": "msg_duplicate", "message": DUPLICATE_MESSAGE}
            return _json({"data": [{"message_id": "", "is_sent": False, "drop_reason": drop}]})
        recent.append((now, text))

        event = self._chat_event(
            self.users[broadcaster_id],
            self.users[sender_id],
            text,
            self._badges_for(broadcaster_id, sender_id),
            parent_id,
        )
        record.message_id, record.is_sent = str(event["message_id"]), True
        if self.echo_sent_messages:
            # Twitch delivers the bot's own messages to channel.chat.message subscribers too.
            condition = {"broadcaster_user_id": broadcaster_id}
            self._spawn(self._deliver(CHAT_MESSAGE, event, condition, None))
        sent = {"message_id": record.message_id, "is_sent": True, "drop_reason": None}
        return _json({"data": [sent]})

    def _refuse(self, record: SentChat, status: int, message: str) -> web.Response:
        record.error = message
        return _helix_error(status, message)

    async def _helix_not_found(self, request: web.Request, token: FakeToken) -> web.Response:
        return _helix_error(404, f"the fake does not implement {request.method} {request.path}")

    # ------------------------------------------------------------------ chat events

    def _user(self, user_id: str) -> FakeUser:
        try:
            return self.users[str(user_id)]
        except KeyError:
            raise KeyError(f"unknown user {user_id!r}; call add_user first") from None

    def _badges_for(self, broadcaster_id: str, user_id: str) -> list[tuple[str, str]]:
        if user_id == broadcaster_id:
            return [("broadcaster", "1")]
        if user_id in self.moderators.get(broadcaster_id, set()):
            return [("moderator", "1")]
        return []

    def _chat_event(
        self,
        broadcaster: FakeUser,
        chatter: FakeUser,
        text: str,
        badges: Sequence[tuple[str, str] | tuple[str, str, str]],
        reply_to: str | None,
    ) -> dict[str, Any]:
        reply: dict[str, Any] | None = None
        if reply_to is not None:
            parent = self._chat_log.get(reply_to)
            if parent is None:
                raise ValueError(f"reply_to: no chat message with id {reply_to!r}")
            thread = parent["reply"] or {
                "thread_message_id": parent["message_id"],
                "thread_user_id": parent["chatter_user_id"],
                "thread_user_login": parent["chatter_user_login"],
                "thread_user_name": parent["chatter_user_name"],
            }
            reply = {
                "parent_message_id": parent["message_id"],
                "parent_message_body": parent["message"]["text"],
                "parent_user_id": parent["chatter_user_id"],
                "parent_user_login": parent["chatter_user_login"],
                "parent_user_name": parent["chatter_user_name"],
                "thread_message_id": thread["thread_message_id"],
                "thread_user_id": thread["thread_user_id"],
                "thread_user_login": thread["thread_user_login"],
                "thread_user_name": thread["thread_user_name"],
            }
        event: dict[str, Any] = {
            "broadcaster_user_id": broadcaster.id,
            "broadcaster_user_login": broadcaster.login,
            "broadcaster_user_name": broadcaster.display_name,
            "chatter_user_id": chatter.id,
            "chatter_user_login": chatter.login,
            "chatter_user_name": chatter.display_name,
            "message_id": str(uuid.uuid4()),
            "message": {"text": text, "fragments": self._fragments(text)},
            "color": chatter.color,
            "badges": [
                {"set_id": b[0], "id": b[1], "info": b[2] if len(b) > 2 else ""} for b in badges
            ],
            "message_type": "text",
            "cheer": None,
            "reply": reply,
            "channel_points_custom_reward_id": None,
            "channel_points_animation_id": None,
            "source_broadcaster_user_id": None,
            "source_broadcaster_user_login": None,
            "source_broadcaster_user_name": None,
            "source_message_id": None,
            "source_badges": None,
            "is_source_only": None,
        }
        self._chat_log[event["message_id"]] = event
        return event

    def _fragments(self, text: str) -> list[dict[str, Any]]:
        """Split @mentions of known users into mention fragments, as Twitch does."""
        by_login = {u.login: u for u in self.users.values()}
        fragments: list[dict[str, Any]] = []
        position = 0
        for match in _MENTION.finditer(text):
            user = by_login.get(match.group(1).lower())
            if user is None:
                continue
            if match.start() > position:
                fragments.append(_fragment("text", text[position : match.start()]))
            mention = {"user_id": user.id, "user_login": user.login, "user_name": user.display_name}
            fragments.append(_fragment("mention", match.group(0), mention=mention))
            position = match.end()
        if position < len(text) or not fragments:
            fragments.append(_fragment("text", text[position:]))
        return fragments

    # ------------------------------------------------------------------ websocket

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_websockets:
            return _helix_error(503, "service unavailable")
        try:
            keepalive = _keepalive_seconds(request.query.get("keepalive_timeout_seconds"))
        except ValueError:
            return _helix_error(400, "keepalive_timeout_seconds must be an integer")

        ws = web.WebSocketResponse()  # answers the client's heartbeat pings automatically
        await ws.prepare(request)
        request[_RECORD].status = 101

        token = request.query.get("reconnect_token")
        if token is not None:
            reconnecting = self._pending_reconnects.pop(token, None)
            if reconnecting is None or reconnecting.ended:
                # Twitch answers 4007 when the old socket is already gone or the URL is unknown.
                await ws.close(code=CLOSE_INVALID_RECONNECT, message=b"invalid reconnect")
                return ws
            session = reconnecting
            session.ws, session.request, session.reconnect_token = ws, request, None
            for timer in session.timers:
                timer.cancel()
        else:
            session = _Session(
                id=_new_session_id(), keepalive_timeout=keepalive, ws=ws, request=request
            )
            self._sessions[session.id] = session

        connection = Connection(
            session.id, self._clock(), session.keepalive_timeout, token is not None
        )
        self.connections.append(connection)
        self._connection_of[ws] = connection
        self._notify()

        keepalive_task: asyncio.Task[None] | None = None
        try:
            if self.welcome_delay:
                await asyncio.sleep(self.welcome_delay)
            welcome = {
                "session": {
                    "id": session.id,
                    "status": "connected",
                    "connected_at": session.connected_at,
                    "keepalive_timeout_seconds": session.keepalive_timeout,
                    "reconnect_url": None,
                    "recovery_url": None,
                }
            }
            await self._send(session, ws, self._message("session_welcome", welcome))
            if token is None and self.unused_timeout is not None:
                self._start_timer(session, self._close_if_unused(session, ws))
            keepalive_task = asyncio.create_task(self._keepalive_loop(session, ws))

            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    # Twitch forbids client messages and disconnects the offender.
                    if session.ws is ws:
                        self._end_session(session)
                    await self._close_ws(ws, CLOSE_INBOUND_TRAFFIC, "inbound traffic")
                    break
        finally:
            if keepalive_task is not None:
                keepalive_task.cancel()
            if session.ws is ws:  # otherwise the session already moved to a reconnected socket
                self._end_session(session)
            connection.closed_at = self._clock()
            if connection.close_code is None:  # the client closed first
                connection.close_code = ws.close_code
            self._connection_of.pop(ws, None)
            self._notify()
        return ws

    async def _keepalive_loop(self, session: _Session, ws: web.WebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        interval = self.keepalive_interval or session.keepalive_timeout
        while not ws.closed and session.ws is ws:  # a migrated socket goes quiet
            wait = session.last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif self.keepalives_enabled:
                await self._send(session, ws, self._message("session_keepalive", {}))
            else:
                await asyncio.sleep(interval)

    async def _close_if_unused(self, session: _Session, ws: web.WebSocketResponse) -> None:
        limit = (
            session.keepalive_timeout if self.unused_timeout == "keepalive" else self.unused_timeout
        )
        assert limit is not None
        await asyncio.sleep(float(limit))
        if not session.subscriptions and session.ws is ws and not session.ended:
            self._end_session(session)
            await self._close_ws(ws, CLOSE_CONNECTION_UNUSED, "connection unused")

    async def _expire_reconnect(
        self, session: _Session, old_ws: web.WebSocketResponse, token: str
    ) -> None:
        await asyncio.sleep(self.reconnect_grace)
        if self._pending_reconnects.pop(token, None) is not None and session.ws is old_ws:
            self._end_session(session)
            await self._close_ws(old_ws, CLOSE_RECONNECT_GRACE_EXPIRED, "reconnect grace expired")

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        connection = self._connection_of.get(ws)
        if connection is not None and connection.close_code is None:
            connection.close_code = code
        await ws.close(code=code, message=reason.encode())

    def _end_session(self, session: _Session) -> None:
        if session.ended:
            return
        session.ended = True
        session.subscriptions.clear()
        self._sessions.pop(session.id, None)
        if session.reconnect_token is not None:
            self._pending_reconnects.pop(session.reconnect_token, None)
        for timer in session.timers:
            if timer is not asyncio.current_task():
                timer.cancel()
        self._notify()

    def _target_sessions(self, session_id: str | None) -> list[_Session]:
        targets = [s for s in self._sessions.values() if session_id in (None, s.id)]
        if not targets:
            raise LookupError(f"no connected EventSub session {session_id or ''}".strip())
        return targets

    async def _deliver(
        self,
        subscription_type: str,
        event: dict[str, Any],
        condition: Mapping[str, str] | None,
        version: str | None,
    ) -> int:
        delivered = 0
        for session in list(self._sessions.values()):
            for sub in list(session.subscriptions.values()):
                if sub.type != subscription_type or version not in (None, sub.version):
                    continue
                if not _matches(sub.condition, condition):
                    continue
                metadata = {"subscription_type": sub.type, "subscription_version": sub.version}
                payload = {"subscription": sub.helix(), "event": event}
                message = self._message("notification", payload, **metadata)
                if await self._send(session, session.ws, message):
                    delivered += 1
                    self.notifications.append(
                        Notification(
                            session.id,
                            sub.id,
                            sub.type,
                            message["metadata"]["message_id"],
                            event,
                            self._clock(),
                        )
                    )
        self._notify()
        return delivered

    def _message(
        self, message_type: str, payload: dict[str, Any], **metadata: str
    ) -> dict[str, Any]:
        meta = {
            "message_id": str(uuid.uuid4()),
            "message_type": message_type,
            "message_timestamp": _timestamp(),
            **metadata,
        }
        return {"metadata": meta, "payload": payload}

    async def _send(
        self, session: _Session, ws: web.WebSocketResponse, message: dict[str, Any]
    ) -> bool:
        if ws.closed:
            return False
        async with session.send_lock:
            try:
                await ws.send_str(json.dumps(message))
            except (ConnectionError, RuntimeError):
                return False
        session.last_sent = asyncio.get_running_loop().time()
        return True

    def _start_timer(self, session: _Session, coro: Any) -> None:
        task = self._spawn(coro)
        session.timers.add(task)
        task.add_done_callback(session.timers.discard)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


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
