"""FakeDiscord itself: lifecycle, the test API, and the world it keeps."""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Literal

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from fakes.discord.gateway import GatewayMixin
from fakes.discord.messages import MessagesMixin
from fakes.discord.model import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    API_PREFIX,
    DEFAULT_BOT_PERMISSIONS,
    DISCORD_EPOCH_MS,
    EVERYONE_PERMISSIONS,
    GUILD_MEMBERS,
    GUILD_PRESENCES,
    GUILDS,
    JSON,
    MESSAGE_CONTENT,
    MOD_PERMISSIONS,
    PRIVILEGED_INTENTS,
    THREAD_TYPES,
    ClientT,
    GatewayConnection,
    InteractionRecord,
    RecordedRequest,
    _Conn,
    _Injection,
    _now_iso,
    _parse_emoji,
    _role,
    _Session,
)
from fakes.discord.rest import RestMixin


class FakeDiscord(GatewayMixin, MessagesMixin, RestMixin):
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
