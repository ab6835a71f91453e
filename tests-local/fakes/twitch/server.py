"""FakeTwitch itself: lifecycle, setting up the world, inspection and pushing events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import twitchio.eventsub.websockets
import twitchio.http
from aiohttp import web

from fakes.twitch.events import ChatEventsMixin
from fakes.twitch.helix import HelixMixin
from fakes.twitch.model import (
    CHAT_MESSAGE,
    CLOSE_INTERNAL_ERROR,
    DEFAULT_USER_SCOPES,
    Connection,
    FakeToken,
    FakeUser,
    NoSubscriberError,
    Notification,
    RecordedRequest,
    SentChat,
    Subscription,
    T,
    _FailureRule,
    _matches,
    _Session,
)
from fakes.twitch.oauth import OAuthMixin
from fakes.twitch.plumbing import PlumbingMixin
from fakes.twitch.websocket import WebsocketMixin


class FakeTwitch(PlumbingMixin, OAuthMixin, HelixMixin, ChatEventsMixin, WebsocketMixin):
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
        # AutoMod: messages with one of these terms are held; checks are rate limited per
        # channel as on a normal (not affiliate or partner) channel.
        self.automod_terms: set[str] = set()
        self.automod_per_minute = 5
        self.automod_checks: list[tuple[str, str]] = []  # (broadcaster id, text) answered
        self._automod_log: list[tuple[str, str, float]] = []
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
        app.router.add_post(
            "/helix/moderation/enforcements/status", self._helix(self._check_automod_status)
        )
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
