"""Discord's constants, records and payload helpers, shared by the fake's parts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import re
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import discord.gateway
import discord.http
from aiohttp import BodyPartReader, web

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
