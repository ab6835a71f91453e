"""A local fake of Discord's gateway and REST API (v10) that the *real* discord.py runs against.

Unlike dpytest nothing inside discord.py is replaced: only the REST base URL and the default
gateway URL are redirected (``patch_discord``), so discord.py's own HTTP, rate-limit, websocket,
zlib, heartbeat, resume and interaction code is exercised. Payloads follow the shapes Discord
sends, and the fake rejects what Discord rejects (over-long content, empty messages, late or
repeated interaction callbacks, edits of other people's messages, ...) with Discord's error codes.

Typical use::

    fake = FakeDiscord()
    await fake.start()
    async with fake.run_client(bot):          # patch URLs, login, connect, wait for on_ready
        iid = await fake.send_slash("ask", {"question": "hi"})
        await fake.wait_for(lambda r: r.path.startswith("/webhooks/"))
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import socket
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

JSON = dict[str, Any]
T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=discord.Client)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

THREAD_TYPES = (10, 11, 12)  # announcement, public and private threads

# Message flags the fake gives meaning to.
EPHEMERAL = 1 << 6
LOADING = 1 << 7
ALLOWED_MESSAGE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12)  # SUPPRESS_EMBEDS, EPHEMERAL, SILENT

P = discord.Permissions
ALL_PERMISSIONS = P.all().value
ADMINISTRATOR = P(administrator=True).value
VIEW_CHANNEL = P(view_channel=True).value
SEND_MESSAGES = P(send_messages=True).value
ADD_REACTIONS = P(add_reactions=True).value
READ_MESSAGE_HISTORY = P(read_message_history=True).value
MANAGE_MESSAGES = P(manage_messages=True).value
# What @everyone gets in a fresh server.
EVERYONE_PERMISSIONS = P(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_external_emojis=True,
    use_application_commands=True,
    create_instant_invite=True,
    change_nickname=True,
    connect=True,
    speak=True,
).value
# A typical bot invite: text permissions, but not manage_messages.
DEFAULT_BOT_PERMISSIONS = EVERYONE_PERMISSIONS
MOD_PERMISSIONS = P(manage_messages=True, moderate_members=True, kick_members=True).value


class ApiError(Exception):
    """An error response in Discord's JSON shape."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: JSON = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors


def _field_error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}


def _form_error(errors: JSON) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


def _unknown(kind: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {kind}")


def _missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class RecordedRequest:
    """One REST request the fake answered (after the response was decided)."""

    method: str
    path: str  # relative to /api/v10, percent-decoded, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any  # parsed JSON body, or multipart payload_json; None without a body
    time: float  # loop.time() on arrival
    files: list[str] = field(default_factory=list)  # multipart attachment file names
    status: int = 0
    response: Any = None  # the JSON the fake answered with (None for 204)


@dataclass
class GatewayConnection:
    """One websocket connection to the fake gateway."""

    path: str  # "/gateway" for a fresh connect, "/gateway-resume" for resume_gateway_url
    query: dict[str, str]
    opened: float
    kind: str = ""  # "identify" or "resume" once the client says which
    received: list[JSON] = field(default_factory=list)  # every frame the client sent
    close_code: int | None = None  # the first close code sent, by either side


@dataclass
class InteractionRecord:
    """The fake's view of one INTERACTION_CREATE it dispatched."""

    id: int
    token: str
    name: str
    created: float  # loop.time()
    guild_id: int
    channel_id: int
    user_id: int
    callback_type: int | None = None
    callback_time: float | None = None
    original_message_id: int | None = None
    ephemeral: bool = False
    followup_ids: list[int] = field(default_factory=list)


@dataclass
class _Injection:
    method: str
    path_prefix: str
    status: int
    body: JSON
    headers: dict[str, str]
    remaining: int


class _Conn:
    """A gateway websocket; sends are serialised so zlib-stream output stays in order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, record: GatewayConnection):
        self.ws = ws
        self.request = request
        self.record = record
        self.session: _Session | None = None
        self.server_closed = False
        self._lock = asyncio.Lock()
        # discord.py asks for compress=zlib-stream; honour it like Discord does so the client's
        # decompressor is exercised. Anything else (zstd-stream) falls back to plain text frames,
        # which discord.py also accepts.
        wants_zlib = record.query.get("compress") == "zlib-stream"
        self._zlib = zlib.compressobj() if wants_zlib else None

    async def send(self, payload: JSON) -> None:
        await self.send_text(json.dumps(payload, separators=(",", ":")))

    async def send_text(self, data: str) -> None:
        async with self._lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway connection is closed")
            if self._zlib is None:
                await self.ws.send_str(data)
            else:
                chunk = self._zlib.compress(data.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(chunk)

    async def close(self, code: int, message: str) -> None:
        self.server_closed = True
        self.record.close_code = code  # aiohttp would report the client's answering code
        await self.ws.close(code=code, message=message.encode())


class _Session:
    """A gateway session: survives reconnects, numbers dispatches, keeps them for RESUME."""

    def __init__(self, session_id: str, intents: int) -> None:
        self.id = session_id
        self.intents = intents
        self.seq = 0
        # (s, frame as sent): a snapshot, so RESUME replays what was dispatched even if the
        # message was edited since.
        self.backlog: deque[tuple[int, str]] = deque(maxlen=1000)
        self.conn: _Conn | None = None
        self.resumes = 0
        self.lock = asyncio.Lock()  # keeps replayed and fresh dispatches in `s` order

    async def dispatch(self, event: str, data: JSON) -> None:
        async with self.lock:
            self.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": self.seq, "d": data})
            self.backlog.append((self.seq, frame))
            await self.deliver(frame)

    async def deliver(self, frame: str) -> None:
        if self.conn is None:
            return  # buffered: replayed on RESUME, as Discord does
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.conn.send_text(frame)


Handler = Callable[..., Awaitable[Any]]


class FakeDiscord:
    """Discord's gateway + REST API on 127.0.0.1, for one bot in one guild."""

    TOKEN = "fake-bot-token"
    BOT_USER_ID = 1_100_000_000_000_000_001
    APPLICATION_ID = 1_100_000_000_000_000_002  # differs from the bot id to catch mix-ups
    GUILD_ID = 1_100_000_000_000_000_010  # also the @everyone role id
    OWNER_ID = 1_100_000_000_000_000_020
    USER_ID = 1_100_000_000_000_000_021  # a plain member
    MOD_USER_ID = 1_100_000_000_000_000_022  # a member with MOD_ROLE_ID
    CHANNEL_ID = 1_100_000_000_000_000_030  # #general, a text channel
    BOT_ROLE_ID = 1_100_000_000_000_000_040  # the bot's managed role
    MOD_ROLE_ID = 1_100_000_000_000_000_041  # "Moderators": manage_messages, moderate_members

    def __init__(
        self,
        *,
        token: str = TOKEN,
        heartbeat_interval_ms: int = 41_250,
        privileged_intents: int = PRIVILEGED_INTENTS,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Privileged intents enabled in the "developer portal"; others close the socket (4014).
        self.privileged_intents = privileged_intents
        self.interaction_deadline = 3.0  # seconds to the first callback before 10062
        self.interaction_token_ttl = 15 * 60.0  # followups/edits after this get 50027

        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []  # requests for routes the fake doesn't know
        self.internal_errors: list[BaseException] = []  # bugs in the fake itself
        self.gateway_connections: list[GatewayConnection] = []
        self.synced_commands: dict[int | None, list[JSON]] = {}  # guild id (None: global)
        self.interactions: dict[int, InteractionRecord] = {}
        self.messages: dict[int, JSON] = {}  # every message, REST shape, by id
        self.users: dict[int, JSON] = {}
        self.members: dict[int, JSON] = {}  # guild members (with "user") by user id
        self.roles: dict[int, JSON] = {}
        self.channels: dict[int, JSON] = {}  # guild text channels, threads and DM channels
        # Server Settings → Integrations: users an admin let run a command whatever its
        # default_member_permissions say (the client must still enforce its own checks).
        self.command_overrides: dict[str, set[int]] = {}

        self.port = 0
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._injections: list[_Injection] = []
        self._reactions: dict[tuple[int, str], list[int]] = {}  # (message, emoji key) -> users
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._last_id = 0
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()
        self._seed()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self, port: int | None = None) -> None:
        """Serve on a free port, or on ``port`` (e.g. the previous one, to come back after
        ``stop()`` as Discord does after an outage)."""
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        # Bind the socket ourselves to learn the free port without private aiohttp attributes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port or 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close gateway sockets (code 1001) and the server. Close the client first."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.close(1001, "Going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this fake, then restore them."""
        route_cls = discord.http.Route
        ws_cls = discord.gateway.DiscordWebSocket
        old_base, old_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
        route_cls.BASE = self.api_url
        ws_cls.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            route_cls.BASE, ws_cls.DEFAULT_GATEWAY = old_base, old_gateway

    @contextlib.asynccontextmanager
    async def run_client(
        self, client: ClientT, *, ready_timeout: float = 10.0
    ) -> AsyncIterator[ClientT]:
        """Patch URLs, log in, connect, wait for on_ready; close the client on exit.

        Pass ``guild_ready_timeout=0.1`` (or similar) to the client: discord.py waits that long
        (2 s by default) after the last GUILD_CREATE before firing on_ready.
        """
        with self.patch_discord():
            task: asyncio.Task[None] | None = None
            try:
                await client.login(self.token)
                task = asyncio.create_task(client.connect(), name="fake-discord-client")
                ready = asyncio.ensure_future(client.wait_until_ready())
                done, _ = await asyncio.wait(
                    {ready, task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if ready not in done:
                    ready.cancel()
                    if task.done():
                        task.result()  # re-raise why connect() ended (e.g. 4014)
                    raise TimeoutError(f"client not ready within {ready_timeout}s")
                yield client
            finally:
                await client.close()
                if task is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, timeout=5.0)

    # ------------------------------------------------------------------ test API: events

    async def send_slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int = USER_ID,
        permissions: int | None = None,
        roles: Iterable[int] | None = None,
        channel_id: int = CHANNEL_ID,
        locale: str = "en-US",
        as_owner: bool = False,
    ) -> int:
        """Dispatch a slash command (INTERACTION_CREATE type 2) and return the interaction id.

        ``name`` may be "cmd", "cmd sub" or "cmd group sub". The command must have been synced
        (as on Discord), ``options`` are checked and typed against the synced schema, and a member
        lacking the command's ``default_member_permissions`` raises PermissionError (Discord
        would not show them the command). ``permissions`` overrides the member's computed
        permissions; the guild owner (``as_owner`` or OWNER_ID) and administrators always have
        all of them.
        """
        self._require_session()
        if as_owner:
            user_id = self.OWNER_ID
        parts = name.split()
        command, guild_scoped = self._find_command(parts[0])
        member = self._ensure_member(user_id, roles)
        perms = self._member_permissions(user_id) if permissions is None else permissions
        if user_id == self.OWNER_ID or perms & ADMINISTRATOR:
            perms = ALL_PERMISSIONS
        required = command.get("default_member_permissions")
        overridden = user_id in self.command_overrides.get(parts[0], set())
        if required is not None and perms & int(required) != int(required) and not overridden:
            raise PermissionError(f"/{parts[0]} needs permissions {required}; member has {perms}")

        resolved: JSON = {}
        built = self._build_options(command, parts[1:], options or {}, resolved)
        data: JSON = {"id": command["id"], "name": parts[0], "type": 1}
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        if guild_scoped:
            data["guild_id"] = str(self.GUILD_ID)

        interaction_id = self._next_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(32)
        channel = self.channels[channel_id]
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.APPLICATION_ID),
            "type": 2,
            "data": data,
            "guild_id": str(self.GUILD_ID),
            "guild": {"id": str(self.GUILD_ID), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": {**channel, "permissions": str(perms)},
            "member": {**member, "permissions": str(perms)},
            "token": token,
            "version": 1,
            "app_permissions": str(self._bot_permissions()),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(self.GUILD_ID)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        self.interactions[interaction_id] = InteractionRecord(
            id=interaction_id,
            token=token,
            name=name,
            created=self._time(),
            guild_id=self.GUILD_ID,
            channel_id=channel_id,
            user_id=user_id,
        )
        await self._dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def send_message(
        self,
        content: str,
        *,
        user_id: int = USER_ID,
        mentions: Iterable[int] = (),
        channel_id: int = CHANNEL_ID,
        dm: bool = False,
        reply_to: int | None = None,
    ) -> int:
        """A user posts a message (MESSAGE_CREATE); returns its id.

        Mentions are parsed from ``<@id>`` in the content, plus ``mentions``. With ``dm`` the
        message goes to the user's DM channel with the bot. As on Discord, a client without the
        MESSAGE_CONTENT intent gets empty content unless the bot is mentioned or it is a DM.
        """
        self._require_session()
        author = self._ensure_member(user_id)["user"] if not dm else self._ensure_user(user_id)
        if dm:
            channel_id = self._dm_channel(user_id)
        body: JSON = {"content": content}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to)}
        message = self._new_message(channel_id, author, body, extra_mentions=mentions)
        await self._dispatch_message("MESSAGE_CREATE", message)
        return int(message["id"])

    async def send_reaction(
        self, message_id: int, emoji: str, user_id: int = USER_ID, *, remove: bool = False
    ) -> None:
        """A user adds (or removes) a reaction: MESSAGE_REACTION_ADD / _REMOVE.

        ``emoji`` is a unicode emoji, "name:id" or "<:name:id>".
        """
        self._require_session()
        message = self._message(message_id)
        self._ensure_member(user_id)
        await self._react(message, _parse_emoji(emoji), user_id, add=not remove)

    async def force_reconnect(
        self, mode: Literal["reconnect", "close", "drop"] = "reconnect", *, timeout: float = 10.0
    ) -> None:
        """Make the client reconnect, and wait until it has RESUMEd its session.

        reconnect: send op 7 RECONNECT. close: close the socket with 4000 (resumable).
        drop: abort the TCP connection without a close frame. Events dispatched meanwhile are
        buffered and replayed on RESUME, as on Discord.
        """
        session = self._live_session()
        conn = session.conn
        assert conn is not None
        before = session.resumes
        if mode == "reconnect":
            await conn.send({"op": 7, "d": None, "s": None, "t": None})
        elif mode == "close":
            await conn.close(4000, "Unknown error")
        else:
            conn.server_closed = True
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        await self._wait_until(lambda: session.resumes > before, timeout, "a RESUME")

    async def invalidate_session(self, *, resumable: bool = False, timeout: float = 10.0) -> None:
        """Send op 9 INVALID_SESSION; unless resumable the client must IDENTIFY afresh."""
        session = self._live_session()
        assert session.conn is not None
        before = len(self.gateway_connections)
        if not resumable:
            self._sessions.pop(session.id, None)
        await session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})
        await self._wait_until(
            lambda: any(c.kind for c in self.gateway_connections[before:]), timeout, "a reconnect"
        )

    def allow_command(self, name: str, user_id: int) -> None:
        """Let a user run /name despite its default_member_permissions, as a server admin can
        in Server Settings → Integrations. Interactions still carry the user's real permissions."""
        self.command_overrides.setdefault(name, set()).add(user_id)

    async def create_thread(self, name: str, *, parent_id: int = CHANNEL_ID) -> int:
        """A public thread under a text channel (THREAD_CREATE); returns its id."""
        self._require_session()
        thread_id = self._next_id()
        self.channels[thread_id] = {
            "id": str(thread_id),
            "type": 11,  # PUBLIC_THREAD
            "guild_id": str(self.GUILD_ID),
            "parent_id": str(parent_id),
            "owner_id": str(self.USER_ID),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now_iso(),
                "locked": False,
                "create_timestamp": _now_iso(),
            },
        }
        data = self.channels[thread_id] | {"newly_created": True}
        await self._dispatch("THREAD_CREATE", data, intent=GUILDS)
        return thread_id

    async def set_bot_permissions(self, permissions: int) -> None:
        """Change the bot role's permissions and tell the client (GUILD_ROLE_UPDATE)."""
        role = self.roles[self.BOT_ROLE_ID]
        role["permissions"] = str(permissions)
        await self._dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(self.GUILD_ID), "role": role}, intent=GUILDS
        )

    # ------------------------------------------------------------------ test API: errors

    def rate_limit_next(
        self,
        method: str,
        path_prefix: str,
        retry_after: float = 0.5,
        *,
        is_global: bool = False,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests with a 429 like Discord's."""
        reset = time.time() + retry_after
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{reset:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Scope": "global" if is_global else "user",
            # discord.py treats a 429 *without* Via as a Cloudflare ban and raises instead of
            # retrying, so this header is load-bearing.
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        body["global"] = is_global
        self._inject(method, path_prefix, 429, body, headers, count)

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        code: int = 0,
        message: str = "Injected failure",
        *,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests with ``{"message", "code"}``."""
        self._inject(method, path_prefix, status, {"message": message, "code": code}, {}, count)

    # ------------------------------------------------------------------ test API: inspection

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 5.0,
        *,
        start: int = 0,
    ) -> RecordedRequest:
        """The first request in ``requests[start:]`` matching ``predicate``, waiting for it.

        Pass ``start=len(fake.requests)`` to ignore what already happened.
        """

        def find() -> RecordedRequest | None:
            return next((r for r in self.requests[start:] if predicate(r)), None)

        return await self._wait_until(find, timeout, "a matching request")

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def messages_in(self, channel_id: int = CHANNEL_ID) -> list[JSON]:
        """Messages in a channel, oldest first (ephemeral interaction replies included)."""
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id]

    def add_member(
        self, user_id: int, username: str | None = None, *, roles: Iterable[int] = ()
    ) -> JSON:
        """Create a user + guild member the fake knows about (send_* do this on demand)."""
        self._ensure_user(user_id, username)
        return self._ensure_member(user_id, roles)

    # ------------------------------------------------------------------ world state

    def _seed(self) -> None:
        self._ensure_user(self.BOT_USER_ID, "quipbot", bot=True)
        self._ensure_user(self.OWNER_ID, "owner")
        self._ensure_user(self.USER_ID, "alice")
        self._ensure_user(self.MOD_USER_ID, "mod")
        self.roles[self.GUILD_ID] = _role(self.GUILD_ID, "@everyone", EVERYONE_PERMISSIONS, 0)
        bot_role = _role(self.BOT_ROLE_ID, "quipbot", DEFAULT_BOT_PERMISSIONS, 2)
        bot_role.update(managed=True, tags={"bot_id": str(self.BOT_USER_ID)})
        self.roles[self.BOT_ROLE_ID] = bot_role
        self.roles[self.MOD_ROLE_ID] = _role(self.MOD_ROLE_ID, "Moderators", MOD_PERMISSIONS, 1)
        self._ensure_member(self.BOT_USER_ID, [self.BOT_ROLE_ID])
        self._ensure_member(self.OWNER_ID)
        self._ensure_member(self.USER_ID)
        self._ensure_member(self.MOD_USER_ID, [self.MOD_ROLE_ID])
        self.channels[self.CHANNEL_ID] = {
            "id": str(self.CHANNEL_ID),
            "type": 0,
            "guild_id": str(self.GUILD_ID),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def _next_id(self) -> int:
        """A real-looking snowflake: current time, strictly increasing."""
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(now, self._last_id + 1)
        return self._last_id

    def _time(self) -> float:
        return asyncio.get_running_loop().time()

    def _ensure_user(self, user_id: int, username: str | None = None, *, bot: bool = False) -> JSON:
        if user_id not in self.users:
            name = username or f"user{user_id % 10_000}"
            self.users[user_id] = {
                "id": str(user_id),
                "username": name,
                "discriminator": "0",
                "global_name": None if bot else name.title(),
                "avatar": None,
                "bot": bot,
                "public_flags": 0,
                "flags": 0,
                "banner": None,
                "accent_color": None,
                "avatar_decoration_data": None,
            }
        return self.users[user_id]

    def _ensure_member(self, user_id: int, roles: Iterable[int] | None = None) -> JSON:
        user = self._ensure_user(user_id)
        member = self.members.get(user_id)
        if member is None:
            member = self.members[user_id] = {
                "user": user,
                "roles": [],
                "nick": None,
                "avatar": None,
                "banner": None,
                "joined_at": "2024-01-01T00:00:00+00:00",
                "premium_since": None,
                "deaf": False,
                "mute": False,
                "pending": False,
                "flags": 0,
                "communication_disabled_until": None,
            }
        if roles is not None:
            unknown = [r for r in roles if r not in self.roles]
            if unknown:
                raise ValueError(f"unknown role ids {unknown}")
            member["roles"] = [str(r) for r in roles]
        return member

    def _member_permissions(self, user_id: int) -> int:
        if user_id == self.OWNER_ID:
            return ALL_PERMISSIONS
        perms = int(self.roles[self.GUILD_ID]["permissions"])
        for role_id in self.members[user_id]["roles"]:
            perms |= int(self.roles[int(role_id)]["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _bot_permissions(self) -> int:
        return self._member_permissions(self.BOT_USER_ID)

    def _dm_channel(self, user_id: int) -> int:
        if user_id not in self._dm_channels:
            channel_id = self._next_id()
            self._dm_channels[user_id] = channel_id
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._ensure_user(user_id)],
            }
        return self._dm_channels[user_id]

    def _guild_payload(self) -> JSON:
        """GUILD_CREATE data: without GUILD_MEMBERS only the bot's own member is included."""
        channels = [
            {k: v for k, v in c.items() if k != "guild_id"}
            for c in self.channels.values()
            if c["type"] not in (1, *THREAD_TYPES)
        ]
        threads = [c for c in self.channels.values() if c["type"] in THREAD_TYPES]
        return {
            "id": str(self.GUILD_ID),
            "name": "Quip Test Server",
            "icon": None,
            "owner_id": str(self.OWNER_ID),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_id": str(self.CHANNEL_ID),
            "rules_channel_id": None,
            "features": [],
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [self.members[self.BOT_USER_ID]],
            "channels": channels,
            "threads": threads,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _application_payload(self) -> JSON:
        return {
            "id": str(self.APPLICATION_ID),
            "name": "quipbot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "owner": self.users[self.OWNER_ID],
            "team": None,
            "bot": self.users[self.BOT_USER_ID],
            "redirect_uris": [],
            "interactions_endpoint_url": None,  # set => discord.py warns no interactions arrive
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
        }

    def _application_flags(self) -> int:
        # The *_LIMITED flags: the privileged intent is enabled for an unverified bot.
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        record = GatewayConnection(request.path, dict(request.query), self._time())
        self.gateway_connections.append(record)
        conn = _Conn(ws, request, record)
        self._conns.add(conn)
        try:
            if request.query.get("v") != "10":
                await conn.close(4012, "Invalid API version.")
                return ws
            if request.query.get("encoding", "json") != "json":
                await conn.close(4002, "Error while decoding payload.")  # no ETF here
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await conn.send({"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await conn.close(4002, "Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await conn.close(4002, "Error while decoding payload.")
                    break
                record.received.append(frame)
                await self._on_gateway_frame(conn, frame)
                self._notify()
        except (ConnectionError, RuntimeError):
            pass  # the client vanished mid-send
        except Exception as exc:
            self.internal_errors.append(exc)
            raise
        finally:
            self._conns.discard(conn)
            if record.close_code is None:
                record.close_code = ws.close_code
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A client's own close with 1000/1001 ends the session (not resumable).
                if not conn.server_closed and ws.close_code in (1000, 1001):
                    self._sessions.pop(session.id, None)
            self._notify()
        return ws

    async def _on_gateway_frame(self, conn: _Conn, frame: JSON) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:  # HEARTBEAT (allowed before IDENTIFY)
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == 8:
            await self._request_members(conn.session, data or {})
        elif op not in (3, 4):  # presence and voice state updates are only recorded
            await conn.close(4001, "Unknown opcode.")

    async def _identify(self, conn: _Conn, data: JSON) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        conn.record.kind = "identify"
        session = _Session(secrets.token_hex(16), intents)
        session.conn = conn
        conn.session = session
        self._sessions[session.id] = session
        ready = {
            "v": 10,
            "user": self.users[self.BOT_USER_ID]
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-resume",
            "application": {"id": str(self.APPLICATION_ID), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await session.dispatch("READY", ready)
        if intents & GUILDS:
            await session.dispatch("GUILD_CREATE", self._guild_payload())

    async def _resume(self, conn: _Conn, data: JSON) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        client_seq = data.get("seq") or 0
        gap = bool(session and session.backlog and session.backlog[0][0] > client_seq + 1)
        if session is None or data.get("token") != self.token or gap:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        old = session.conn
        if old is not None and old is not conn:
            with contextlib.suppress(Exception):
                await old.close(4000, "Session resumed elsewhere.")
        conn.record.kind = "resume"
        async with session.lock:
            session.conn = conn
            conn.session = session
            for seq, frame in list(session.backlog):
                if seq > client_seq:
                    await session.deliver(frame)
        await session.dispatch("RESUMED", {"_trace": ["fake-gateway"]})
        session.resumes += 1

    async def _request_members(self, session: _Session, data: JSON) -> None:
        chunk: JSON = {
            "guild_id": str(self.GUILD_ID),
            "members": list(self.members.values()),
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _live_session(self) -> _Session:
        live = [s for s in self._sessions.values() if s.conn is not None]
        if len(live) != 1:
            raise RuntimeError(f"expected one connected gateway session, found {len(live)}")
        return live[0]

    def _require_session(self) -> None:
        if not self._sessions:
            raise RuntimeError("no gateway session: is the client connected?")

    async def _dispatch(self, event: str, data: JSON, *, intent: int = 0) -> None:
        for session in list(self._sessions.values()):
            if not intent or session.intents & intent:
                await session.dispatch(event, data)

    async def _dispatch_message(self, event: str, message: JSON) -> None:
        """MESSAGE_CREATE/UPDATE, gated by intents and stripped without MESSAGE_CONTENT."""
        if message["flags"] & EPHEMERAL:
            return  # ephemeral replies exist only for the invoking user
        data = self._gateway_message(message)
        is_dm = "guild_id" not in data
        exempt = (
            is_dm
            or int(message["author"]["id"]) == self.BOT_USER_ID
            or any(int(u["id"]) == self.BOT_USER_ID for u in message["mentions"])
        )
        intent = DIRECT_MESSAGES if is_dm else GUILD_MESSAGES
        for session in list(self._sessions.values()):
            if not session.intents & intent:
                continue
            payload = data
            if not exempt and not session.intents & MESSAGE_CONTENT:
                empty = {"content": "", "embeds": [], "attachments": [], "components": []}
                payload = data | empty
            await session.dispatch(event, payload)

    def _gateway_message(self, message: JSON) -> JSON:
        data = dict(message)
        channel = self.channels[int(message["channel_id"])]
        if "guild_id" in channel:
            data["guild_id"] = channel["guild_id"]
            author_id = int(message["author"]["id"])
            if "webhook_id" not in message and author_id in self.members:
                data["member"] = {k: v for k, v in self.members[author_id].items() if k != "user"}
        return data

    # ------------------------------------------------------------------ messages

    def _message(self, message_id: int, channel_id: int | None = None) -> JSON:
        message = self.messages.get(message_id)
        if message is None or (channel_id is not None and int(message["channel_id"]) != channel_id):
            raise _unknown("Message", 10008)
        return message

    def _new_message(
        self,
        channel_id: int,
        author: JSON,
        body: JSON,
        *,
        files: Iterable[str] = (),
        extra_mentions: Iterable[int] = (),
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> JSON:
        message_id = self._next_id()
        message: JSON = {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel_id),
            "author": author,
            "content": "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if "nonce" in body:
            message["nonce"] = body["nonce"]
        if interaction is not None:
            user = self.users[interaction.user_id]
            message.update(
                type=20,  # CHAT_INPUT_COMMAND
                webhook_id=str(self.APPLICATION_ID),
                application_id=str(self.APPLICATION_ID),
                interaction={"id": str(interaction.id), "type": 2, "name": interaction.name}
                | {"user": user},
                interaction_metadata={
                    "id": str(interaction.id),
                    "type": 2,
                    "user": user,
                    "authorizing_integration_owners": {"0": str(interaction.guild_id)},
                    "name": interaction.name,
                    "command_type": 1,
                },
            )
        reference = body.get("message_reference")
        if reference:
            referenced = self._message(int(reference["message_id"]))
            message["type"] = 19 if interaction is None else message["type"]  # REPLY
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
            } | ({"guild_id": str(self.GUILD_ID)} if self._is_guild(channel_id) else {})
            message["referenced_message"] = referenced
        self._apply_body(message, body, files, extra_mentions)
        if flags is not None:
            message["flags"] = flags
        self.messages[message_id] = message
        if interaction is None or not message["flags"] & EPHEMERAL:
            self.channels[channel_id]["last_message_id"] = str(message_id)
        return message

    def _apply_body(
        self, message: JSON, body: JSON, files: Iterable[str], extra_mentions: Iterable[int] = ()
    ) -> None:
        """Merge create/edit fields into a stored message, recomputing mentions."""
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [{"type": "rich"} | e for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = body["components"] or []
        if "flags" in body:
            message["flags"] = (message["flags"] & ~ALLOWED_MESSAGE_FLAGS) | (
                int(body["flags"] or 0) & ALLOWED_MESSAGE_FLAGS
            )
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        for filename in files:  # new list: `message` may be a shallow copy of a stored one
            attachment_id = self._next_id()
            url = f"{self.base_url}/attachments/{message['channel_id']}/{attachment_id}/{filename}"
            attachment = {"id": str(attachment_id), "filename": filename, "size": 0, "url": url}
            message["attachments"] = [*message["attachments"], attachment | {"proxy_url": url}]
        self._compute_mentions(message, body.get("allowed_mentions"), extra_mentions)

    def _compute_mentions(
        self, message: JSON, allowed: JSON | None, extra: Iterable[int] = ()
    ) -> None:
        """Discord's `mentions` lists only the users that allowed_mentions lets it ping."""
        content = message["content"]
        user_ids = [int(u) for u in re.findall(r"<@!?(\d+)>", content)] + list(extra)
        role_ids = [int(r) for r in re.findall(r"<@&(\d+)>", content)]
        reply_author: int | None = None
        if "referenced_message" in message:
            reply_author = int(message["referenced_message"]["author"]["id"])
        if allowed is None:  # no allowed_mentions: everything pings, replies included
            parse, users, roles, ping_reply = ["users", "roles", "everyone"], set(), set(), True
        else:
            parse = allowed.get("parse") or []
            users = {int(u) for u in allowed.get("users") or []}
            roles = {int(r) for r in allowed.get("roles") or []}
            ping_reply = bool(allowed.get("replied_user"))
        mentioned = [
            u
            for u in dict.fromkeys(user_ids)
            if u in self.users and ("users" in parse or u in users)
        ]
        if reply_author is not None and ping_reply and reply_author not in mentioned:
            mentioned.append(reply_author)
        message["mentions"] = [self.users[u] for u in mentioned]
        message["mention_roles"] = [
            str(r)
            for r in dict.fromkeys(role_ids)
            if r in self.roles and ("roles" in parse or r in roles)
        ]
        everyone = "everyone" in parse
        message["mention_everyone"] = everyone and bool(re.search(r"@(everyone|here)", content))

    def _check_message_body(self, body: Any, *, nested: str | None = None) -> None:
        """Raise 50035 for what Discord's form validation rejects."""
        if not isinstance(body, dict):
            raise ApiError(400, 50109, "The request body contains invalid JSON.")
        errors = _message_errors(body)
        if errors:
            raise _form_error({nested: errors} if nested else errors)

    def _check_not_empty(self, message: JSON, files: Iterable[str] = ()) -> None:
        if not (
            message["content"].strip()
            or message["embeds"]
            or message["attachments"]
            or message["components"]
            or list(files)
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _is_guild(self, channel_id: int) -> bool:
        return "guild_id" in self.channels[channel_id]

    def _check_channel_access(self, channel_id: int, needed: int = 0) -> JSON:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown("Channel", 10003)
        if "guild_id" in channel:
            perms = self._bot_permissions()
            if not perms & VIEW_CHANNEL:
                raise ApiError(403, 50001, "Missing Access")
            if perms & needed != needed:
                raise _missing_permissions()
        return channel

    async def _react(self, message: JSON, emoji: JSON, user_id: int, *, add: bool) -> None:
        key = (int(message["id"]), _emoji_key(emoji))
        users = self._reactions.setdefault(key, [])
        if add == (user_id in users):
            return  # already in that state: Discord answers 204 and dispatches nothing
        if add:
            users.append(user_id)
        else:
            users.remove(user_id)
        self._refresh_reactions(message)
        channel_id = int(message["channel_id"])
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        is_guild = self._is_guild(channel_id)
        if is_guild:
            data["guild_id"] = str(self.GUILD_ID)
        if add:
            data["message_author_id"] = message["author"]["id"]
            data["burst_colors"] = []
            if is_guild:
                data["member"] = self._ensure_member(user_id)
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        intent = GUILD_MESSAGE_REACTIONS if is_guild else DIRECT_MESSAGE_REACTIONS
        await self._dispatch(event, data, intent=intent)

    def _refresh_reactions(self, message: JSON) -> None:
        reactions = []
        for (message_id, key), users in self._reactions.items():
            if message_id == int(message["id"]) and users:
                reactions.append(
                    {
                        "count": len(users),
                        "count_details": {"burst": 0, "normal": len(users)},
                        "me": self.BOT_USER_ID in users,
                        "me_burst": False,
                        "burst_colors": [],
                        "emoji": _parse_emoji(key),
                    }
                )
        if reactions:
            message["reactions"] = reactions
        else:
            message.pop("reactions", None)

    # ------------------------------------------------------------------ commands

    def _find_command(self, name: str) -> tuple[JSON, bool]:
        for command in self.synced_commands.get(self.GUILD_ID, []):
            if command["name"] == name:
                return command, True
        for command in self.synced_commands.get(None, []):
            if command["name"] == name:
                return command, False
        raise ValueError(f"/{name} is not a synced command (synced: {self.synced_commands})")

    def _build_options(
        self, command: JSON, path: list[str], values: dict[str, Any], resolved: JSON
    ) -> list[JSON]:
        schema: list[JSON] = command.get("options", [])
        if path:  # walk into subcommand groups / subcommands
            sub = next((o for o in schema if o["name"] == path[0] and o["type"] in (1, 2)), None)
            if sub is None:
                raise ValueError(f"no subcommand {path[0]!r} in /{command['name']}")
            inner = self._build_options(sub, path[1:], values, resolved)
            return [{"name": sub["name"], "type": sub["type"], "options": inner}]
        if any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{command['name']} needs a subcommand")
        known = {o["name"] for o in schema}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)} for /{command['name']}")
        built = []
        for option in schema:
            if option["name"] not in values:
                if option.get("required"):
                    raise ValueError(f"missing required option {option['name']!r}")
                continue
            value = self._option_value(option, values[option["name"]], resolved)
            built.append({"name": option["name"], "type": option["type"], "value": value})
        return built

    def _option_value(self, option: JSON, value: Any, resolved: JSON) -> Any:
        kind, name = option["type"], option["name"]
        if kind == 3:
            if not isinstance(value, str):
                raise ValueError(f"{name}: expected str")
            if not option.get("min_length", 0) <= len(value) <= option.get("max_length", 6000):
                raise ValueError(f"{name}: length outside the option's bounds")
        elif kind in (4, 10):
            ok = int if kind == 4 else (int, float)
            if isinstance(value, bool) or not isinstance(value, ok):
                raise ValueError(f"{name}: expected {'int' if kind == 4 else 'number'}")
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"{name}: value outside the option's bounds")
        elif kind == 5:
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected bool")
        elif kind in (6, 9) and int(value) in self.users:
            user_id = int(value)
            resolved.setdefault("users", {})[str(user_id)] = self.users[user_id]
            if user_id in self.members:
                member = {k: v for k, v in self.members[user_id].items() if k != "user"}
                member["permissions"] = str(self._member_permissions(user_id))
                resolved.setdefault("members", {})[str(user_id)] = member
            return str(user_id)
        elif kind in (8, 9) and int(value) in self.roles:
            resolved.setdefault("roles", {})[str(value)] = self.roles[int(value)]
            return str(value)
        elif kind == 7 and int(value) in self.channels:
            channel = self.channels[int(value)]
            resolved.setdefault("channels", {})[str(value)] = channel | {
                "permissions": str(ALL_PERMISSIONS)
            }
            return str(value)
        else:
            raise ValueError(f"{name}: unsupported option type {kind} or unknown id {value!r}")
        choices = option.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{name}: {value!r} is not one of the choices")
        return value

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler, bool]]:
        snowflake, token = r"(\d+)", r"([^/]+)"
        app_cmds = rf"/applications/{snowflake}/commands"
        guild_cmds = rf"/applications/{snowflake}/guilds/{snowflake}/commands"
        webhook = rf"/webhooks/{snowflake}/{token}"
        webhook_msg = rf"{webhook}/messages/(\d+|@original)"
        msg = rf"/channels/{snowflake}/messages/{snowflake}"
        own_reaction = rf"{msg}/reactions/([^/]+)/@me"
        table: list[tuple[str, str, Handler, bool]] = [
            # (method, path regex, handler, needs the bot token)
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", r"/users/@me", self._get_me, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", rf"/users/{snowflake}", self._get_user, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            ("GET", app_cmds, self._get_commands, True),
            ("PUT", app_cmds, self._put_commands, True),
            ("GET", guild_cmds, self._get_commands, True),
            ("PUT", guild_cmds, self._put_commands, True),
            ("POST", rf"/interactions/{snowflake}/{token}/callback", self._callback, False),
            ("POST", webhook, self._followup, False),
            ("GET", webhook_msg, self._get_webhook_message, False),
            ("PATCH", webhook_msg, self._edit_webhook_message, False),
            ("DELETE", webhook_msg, self._delete_webhook_message, False),
            ("GET", rf"/channels/{snowflake}", self._get_channel, True),
            ("GET", rf"/channels/{snowflake}/messages", self._get_messages, True),
            ("POST", rf"/channels/{snowflake}/messages", self._create_message, True),
            ("POST", rf"/channels/{snowflake}/typing", self._typing, True),
            ("GET", msg, self._get_message, True),
            ("PATCH", msg, self._edit_message, True),
            ("DELETE", msg, self._delete_message, True),
            ("PUT", own_reaction, self._add_own_reaction, True),
            ("DELETE", own_reaction, self._remove_own_reaction, True),
            ("GET", rf"/guilds/{snowflake}", self._get_guild, True),
            ("GET", rf"/guilds/{snowflake}/members/{snowflake}", self._get_member, True),
        ]
        return [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    def _inject(
        self, method: str, prefix: str, status: int, body: JSON, headers: dict[str, str], count: int
    ) -> None:
        prefix = prefix.removeprefix(API_PREFIX)
        self._injections.append(_Injection(method.upper(), prefix, status, body, headers, count))

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method == method and path.startswith(injection.path_prefix):
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(API_PREFIX) or "/"
        record = RecordedRequest(request.method, path, dict(request.query), None, self._time())
        headers: dict[str, str] = {}
        try:
            record.json, record.files = await _read_body(request)
            injection = self._take_injection(request.method, path)
            if injection is not None:
                status, payload, headers = injection.status, injection.body, injection.headers
            else:
                auth = request.headers.get("Authorization")
                handler, args, bucket = self._match(record, auth)
                headers = _bucket_headers(bucket)
                payload = await handler(record, *args)
                status = 200 if payload is not None else 204
        except ApiError as exc:
            status, payload = exc.status, exc.body
        except Exception as exc:
            # A bug in the fake. Not a 500: discord.py retries those for ~25 s.
            self.internal_errors.append(exc)
            status, payload = 400, {"message": f"FakeDiscord internal error: {exc!r}", "code": -1}
        record.status, record.response = status, payload
        self.requests.append(record)
        if status == 404 and payload == _NOT_FOUND:
            self.unhandled.append(record)
        self._notify()
        if payload is None:
            return web.Response(status=status, headers=headers)
        # Exactly "application/json": discord.py compares the header verbatim, and aiohttp's
        # json_response would append "; charset=utf-8" (login then fails on a str body).
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)

    def _match(
        self, record: RecordedRequest, auth: str | None
    ) -> tuple[Handler, tuple[str, ...], str]:
        path_known = False
        for method, pattern, handler, needs_auth in self._routes:
            match = pattern.fullmatch(record.path)
            if match is None:
                continue
            path_known = True
            if method != record.method:
                continue
            if needs_auth and auth != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            return handler, match.groups(), f"{method} {pattern.pattern}"
        if path_known:
            raise ApiError(405, 0, "405: Method Not Allowed")
        raise ApiError(404, 0, "404: Not Found")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(
        self, check: Callable[[], T | bool | None], timeout: float, what: str
    ) -> T:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = check()
                    if result is not None and result is not False:
                        return result  # type: ignore[return-value]
                    await changed.wait()
        except TimeoutError:
            recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]]
            raise TimeoutError(f"no {what} within {timeout}s; last requests: {recent}") from None

    # ------------------------------------------------------------------ REST handlers

    async def _get_gateway(self, _: RecordedRequest) -> JSON:
        return {"url": f"ws://127.0.0.1:{self.port}/gateway"}

    async def _get_gateway_bot(self, _: RecordedRequest) -> JSON:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return {"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1} | {
            "session_start_limit": limit
        }

    async def _get_me(self, _: RecordedRequest) -> JSON:
        return self.users[self.BOT_USER_ID] | {"verified": True, "mfa_enabled": False}

    async def _get_user(self, _: RecordedRequest, user_id: str) -> JSON:
        if int(user_id) not in self.users:
            raise _unknown("User", 10013)
        return self.users[int(user_id)]

    async def _create_dm(self, req: RecordedRequest) -> JSON:
        recipient = int((req.json or {}).get("recipient_id", 0))
        if recipient not in self.users or recipient == self.BOT_USER_ID:
            raise _unknown("User", 10013)
        return self.channels[self._dm_channel(recipient)]

    async def _get_application(self, _: RecordedRequest) -> JSON:
        return self._application_payload()

    async def _get_commands(
        self, _: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list[JSON]:
        self._check_app(app_id, guild_id)
        return self.synced_commands.get(int(guild_id) if guild_id else None, [])

    async def _put_commands(
        self, req: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list[JSON]:
        """Bulk overwrite: keeps the ids of commands that keep their name, like Discord."""
        self._check_app(app_id, guild_id)
        scope = int(guild_id) if guild_id else None
        if not isinstance(req.json, list):
            raise _form_error({"_errors": [{"code": "BASE_TYPE_ARRAY", "message": "Not a list"}]})
        errors: JSON = {}
        names: set[tuple[str, int]] = set()
        for index, command in enumerate(req.json):
            problem = _command_errors(command, names)
            if problem:
                errors[str(index)] = problem
        if errors:
            raise _form_error(errors)
        old = {c["name"]: c for c in self.synced_commands.get(scope, [])}
        synced = []
        for command in req.json:
            previous = old.get(command["name"])
            entry = {
                "type": 1,
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
            } | command
            entry |= {
                "id": previous["id"] if previous else str(self._next_id()),
                "application_id": str(self.APPLICATION_ID),
                "version": str(self._next_id()),
            }
            if entry["default_member_permissions"] is not None:  # discord.py sends an int
                entry["default_member_permissions"] = str(int(entry["default_member_permissions"]))
            if scope is not None:
                entry["guild_id"] = str(scope)
            synced.append(entry)
        self.synced_commands[scope] = synced
        return synced

    def _check_app(self, app_id: str, guild_id: str | None) -> None:
        if int(app_id) != self.APPLICATION_ID:
            raise ApiError(403, 50001, "Missing Access")
        if guild_id is not None and int(guild_id) != self.GUILD_ID:
            raise ApiError(403, 50001, "Missing Access")

    async def _callback(self, req: RecordedRequest, interaction_id: str, token: str) -> JSON | None:
        interaction = self.interactions.get(int(interaction_id))
        if interaction is None or interaction.token != token:
            raise _unknown("interaction", 10062)
        if interaction.callback_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if req.time - interaction.created > self.interaction_deadline:
            raise _unknown("interaction", 10062)
        body = req.json if isinstance(req.json, dict) else {}
        kind = body.get("type")
        if kind not in (4, 5, 9):  # message, deferred message, modal
            error = _field_error("BASE_TYPE_CHOICES", "Value must be one of {4, 5, 9}.")
            raise _form_error({"type": error})
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0) & EPHEMERAL
        message: JSON | None = None
        if kind == 4:
            self._check_message_body(data, nested="data")
            message = self._new_message(
                interaction.channel_id,
                self.users[self.BOT_USER_ID],
                data,
                files=req.files,
                interaction=interaction,
            )
            try:
                self._check_not_empty(message)
            except ApiError:
                del self.messages[int(message["id"])]
                raise
        elif kind == 5:  # the "<bot> is thinking..." placeholder
            message = self._new_message(
                interaction.channel_id,
                self.users[self.BOT_USER_ID],
                {},
                interaction=interaction,
                flags=flags | LOADING,
            )
        interaction.callback_type, interaction.callback_time = kind, req.time
        interaction.ephemeral = bool(flags)
        if message is not None:
            interaction.original_message_id = int(message["id"])
            await self._dispatch_message("MESSAGE_CREATE", message)
        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        result: JSON = {
            "interaction": {
                "id": str(interaction.id),
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags),
            }
        }
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": kind, "message": message}
        return result

    def _interaction_for_webhook(
        self, req: RecordedRequest, app_id: str, token: str
    ) -> InteractionRecord:
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if interaction is None or int(app_id) != self.APPLICATION_ID:
            raise _unknown("Webhook", 10015)
        if req.time - interaction.created > self.interaction_token_ttl:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if interaction.callback_type is None:
            raise _unknown("Webhook", 10015)  # followups need an initial response first
        return interaction

    async def _followup(self, req: RecordedRequest, app_id: str, token: str) -> JSON | None:
        interaction = self._interaction_for_webhook(req, app_id, token)
        self._check_message_body(req.json)
        body: JSON = req.json
        original = self.messages.get(interaction.original_message_id or 0)
        if original is not None and original["flags"] & LOADING:
            # The first followup after a deferral replaces the "thinking" message; its
            # ephemerality is the deferral's, whatever the followup's flags say.
            candidate = dict(original) | {"flags": original["flags"] & ~LOADING}
            self._apply_body(candidate, {k: v for k, v in body.items() if k != "flags"}, req.files)
            self._check_not_empty(candidate)
            original.update(candidate)
            await self._dispatch_message("MESSAGE_UPDATE", original)
            message = original
        else:
            message = self._new_message(
                interaction.channel_id,
                self.users[self.BOT_USER_ID],
                body,
                files=req.files,
                interaction=interaction,
            )
            try:
                self._check_not_empty(message)
            except ApiError:
                del self.messages[int(message["id"])]
                raise
            interaction.followup_ids.append(int(message["id"]))
            await self._dispatch_message("MESSAGE_CREATE", message)
        return message if req.query.get("wait", "").lower() in ("1", "true") else None

    def _webhook_message(self, interaction: InteractionRecord, message_id: str) -> JSON:
        if message_id == "@original":
            if interaction.original_message_id is None:
                raise _unknown("Message", 10008)
            return self.messages[interaction.original_message_id]
        mid = int(message_id)
        if mid != interaction.original_message_id and mid not in interaction.followup_ids:
            raise _unknown("Message", 10008)  # a webhook may only touch its own messages
        return self._message(mid)

    async def _get_webhook_message(
        self, req: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> JSON:
        interaction = self._interaction_for_webhook(req, app_id, token)
        return self._webhook_message(interaction, message_id)

    async def _edit_webhook_message(
        self, req: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> JSON:
        interaction = self._interaction_for_webhook(req, app_id, token)
        message = self._webhook_message(interaction, message_id)
        self._check_message_body(req.json)
        await self._edit(message, req.json, req.files)
        return message

    async def _delete_webhook_message(
        self, req: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> None:
        interaction = self._interaction_for_webhook(req, app_id, token)
        await self._delete(self._webhook_message(interaction, message_id))

    async def _edit(self, message: JSON, body: JSON, files: list[str]) -> None:
        candidate = dict(message)
        candidate["flags"] = message["flags"] & ~LOADING  # editing resolves a deferral
        self._apply_body(candidate, {k: v for k, v in body.items() if k != "flags"}, files)
        if "flags" in body:  # only SUPPRESS_EMBEDS may change on edit
            suppress = 1 << 2
            candidate["flags"] = (candidate["flags"] & ~suppress) | (int(body["flags"]) & suppress)
        self._check_not_empty(candidate)
        candidate["edited_timestamp"] = _now_iso()
        message.update(candidate)
        await self._dispatch_message("MESSAGE_UPDATE", message)

    async def _delete(self, message: JSON) -> None:
        del self.messages[int(message["id"])]
        channel_id = int(message["channel_id"])
        if message["flags"] & EPHEMERAL:
            return
        data = {"id": message["id"], "channel_id": message["channel_id"]}
        is_guild = self._is_guild(channel_id)
        if is_guild:
            data["guild_id"] = str(self.GUILD_ID)
        await self._dispatch(
            "MESSAGE_DELETE", data, intent=GUILD_MESSAGES if is_guild else DIRECT_MESSAGES
        )

    async def _get_channel(self, _: RecordedRequest, channel_id: str) -> JSON:
        return self._check_channel_access(int(channel_id))

    async def _get_messages(self, req: RecordedRequest, channel_id: str) -> list[JSON]:
        self._check_channel_access(int(channel_id), READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(req.query.get("limit", 50))))
        before = int(req.query.get("before", 1 << 63))
        after = int(req.query.get("after", 0))
        found = [
            m
            for m in self.messages_in(int(channel_id))
            if after < int(m["id"]) < before and not m["flags"] & EPHEMERAL
        ]
        found.sort(key=lambda m: int(m["id"]), reverse=True)
        return found[:limit]

    async def _create_message(self, req: RecordedRequest, channel_id: str) -> JSON:
        cid = int(channel_id)
        self._check_channel_access(cid, VIEW_CHANNEL | SEND_MESSAGES)
        self._check_message_body(req.json)
        body: JSON = req.json
        reference = body.get("message_reference")
        if reference:
            target = self.messages.get(int(reference.get("message_id", 0)))
            if target is None and reference.get("fail_if_not_exists", True):
                error = _field_error("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                raise _form_error({"message_reference": error})
            if target is None:
                body = {k: v for k, v in body.items() if k != "message_reference"}
        body = {k: v for k, v in body.items() if k != "flags"} | {
            "flags": int(body.get("flags") or 0) & ~EPHEMERAL  # only interactions are ephemeral
        }
        message = self._new_message(cid, self.users[self.BOT_USER_ID], body, files=req.files)
        try:
            self._check_not_empty(message)
        except ApiError:
            del self.messages[int(message["id"])]
            raise
        await self._dispatch_message("MESSAGE_CREATE", message)
        return message

    async def _typing(self, _: RecordedRequest, channel_id: str) -> None:
        self._check_channel_access(int(channel_id), SEND_MESSAGES)

    async def _get_message(self, _: RecordedRequest, channel_id: str, message_id: str) -> JSON:
        self._check_channel_access(int(channel_id), READ_MESSAGE_HISTORY)
        return self._message(int(message_id), int(channel_id))

    async def _edit_message(self, req: RecordedRequest, channel_id: str, message_id: str) -> JSON:
        self._check_channel_access(int(channel_id))
        message = self._message(int(message_id), int(channel_id))
        if int(message["author"]["id"]) != self.BOT_USER_ID or "webhook_id" in message:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._check_message_body(req.json)
        await self._edit(message, req.json, req.files)
        return message

    async def _delete_message(self, _: RecordedRequest, channel_id: str, message_id: str) -> None:
        cid = int(channel_id)
        self._check_channel_access(cid)
        message = self._message(int(message_id), cid)
        own = int(message["author"]["id"]) == self.BOT_USER_ID
        if not own and self._is_guild(cid) and not self._bot_permissions() & MANAGE_MESSAGES:
            raise _missing_permissions()
        await self._delete(message)

    async def _add_own_reaction(
        self, _: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        cid = int(channel_id)
        self._check_channel_access(cid, READ_MESSAGE_HISTORY)
        message = self._message(int(message_id), cid)
        parsed = _parse_emoji(emoji)
        if parsed["id"] is None and (not emoji or emoji.isascii()):
            raise ApiError(400, 10014, "Unknown Emoji")
        is_new = not self._reactions.get((int(message_id), _emoji_key(parsed)))
        if is_new and self._is_guild(cid) and not self._bot_permissions() & ADD_REACTIONS:
            raise _missing_permissions()
        await self._react(message, parsed, self.BOT_USER_ID, add=True)

    async def _remove_own_reaction(
        self, _: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        cid = int(channel_id)
        self._check_channel_access(cid)
        message = self._message(int(message_id), cid)
        await self._react(message, _parse_emoji(emoji), self.BOT_USER_ID, add=False)

    async def _get_guild(self, _: RecordedRequest, guild_id: str) -> JSON:
        if int(guild_id) != self.GUILD_ID:
            raise _unknown("Guild", 10004)
        drop = ("members", "channels", "threads", "presences", "voice_states", "joined_at")
        return {k: v for k, v in self._guild_payload().items() if k not in drop}

    async def _get_member(self, _: RecordedRequest, guild_id: str, user_id: str) -> JSON:
        if int(guild_id) != self.GUILD_ID:
            raise _unknown("Guild", 10004)
        if int(user_id) not in self.members:
            raise _unknown("Member", 10007)
        return self.members[int(user_id)]


# ---------------------------------------------------------------------- helpers

_NOT_FOUND = {"message": "404: Not Found", "code": 0}


def _role(role_id: int, name: str, permissions: int, position: int) -> JSON:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _parse_emoji(text: str) -> JSON:
    """ "👍" -> unicode emoji; "name:id", "<:name:id>", "<a:name:id>" -> custom emoji."""
    match = re.fullmatch(r"<?(a)?:?([\w~]+):(\d+)>?", text)
    if match:
        return {"id": match[3], "name": match[2], "animated": bool(match[1])}
    return {"id": None, "name": text}


def _emoji_key(emoji: JSON) -> str:
    return f"{emoji['name']}:{emoji['id']}" if emoji["id"] else emoji["name"]


def _bucket_headers(bucket: str) -> dict[str, str]:
    """Rate-limit headers on every success, so discord.py's bucket bookkeeping runs as live.

    The budget is generous so tests never wait on a pre-emptive sleep.
    """
    return {
        "X-RateLimit-Bucket": hashlib.sha1(bucket.encode()).hexdigest()[:32],
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
    }


async def _read_body(request: web.Request) -> tuple[Any, list[str]]:
    """JSON body, or (payload_json, file names) for the multipart form discord.py sends files in."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        files: list[str] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            else:
                await part.read()
                files.append(part.filename or part.name or "file")
        return payload, files
    text = await request.text()
    if not text:
        return None, []
    try:
        return json.loads(text), []
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


def _length_error(limit: int) -> JSON:
    return _field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _message_errors(body: JSON) -> JSON:
    """Discord's form validation for message bodies (content, embeds, allowed_mentions)."""
    errors: JSON = {}
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors["content"] = _field_error("STRING_TYPE_CONVERT", "Could not interpret as string.")
    elif content is not None and len(content) > 2000:
        errors["content"] = _length_error(2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = _length_error(10)
    else:
        embed_errors = {str(i): e for i, embed in enumerate(embeds) if (e := _embed_errors(embed))}
        total = sum(_embed_size(embed) for embed in embeds)
        if embed_errors:
            errors["embeds"] = embed_errors
        elif total > 6000:
            errors["embeds"] = _field_error(
                "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
    allowed = body.get("allowed_mentions") or {}
    for kind in ("users", "roles"):
        if kind in (allowed.get("parse") or []) and allowed.get(kind):
            errors["allowed_mentions"] = _field_error(
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    return errors


def _embed_errors(embed: JSON) -> JSON:
    errors: JSON = {}
    for key, limit in (("title", 256), ("description", 4096)):
        if len(embed.get(key) or "") > limit:
            errors[key] = _length_error(limit)
    if len((embed.get("footer") or {}).get("text") or "") > 2048:
        errors["footer"] = {"text": _length_error(2048)}
    if len((embed.get("author") or {}).get("name") or "") > 256:
        errors["author"] = {"name": _length_error(256)}
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors["fields"] = _length_error(25)
    for index, item in enumerate(fields[:25]):
        field_errors: JSON = {}
        for key, limit in (("name", 256), ("value", 1024)):
            text = item.get(key)
            if not text:
                field_errors[key] = _field_error("BASE_TYPE_REQUIRED", "This field is required")
            elif len(text) > limit:
                field_errors[key] = _length_error(limit)
        if field_errors:
            errors.setdefault("fields", {})[str(index)] = field_errors
    return errors


def _embed_size(embed: JSON) -> int:
    size = len(embed.get("title") or "") + len(embed.get("description") or "")
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or []:
        size += len(item.get("name") or "") + len(item.get("value") or "")
    return size


def _command_errors(command: Any, seen: set[tuple[str, int]]) -> JSON:
    """Enough of Discord's command validation to catch a broken sync payload."""
    if not isinstance(command, dict):
        return _field_error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    errors: JSON = {}
    name, kind = command.get("name", ""), command.get("type", 1)
    if (kind == 1 and not re.fullmatch(r"[-_\w]{1,32}", name or "")) or name != name.lower():
        errors["name"] = _field_error("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if (name, kind) in seen:
        errors["name"] = _field_error(
            "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
        )
    seen.add((name, kind))
    description = command.get("description", "")
    if kind == 1 and not 1 <= len(description) <= 100:
        errors["description"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    if len(command.get("options") or []) > 25:
        errors["options"] = _length_error(25)
    return errors
