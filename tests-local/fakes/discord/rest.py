"""The REST API: routing, injected faults, and each route's handler."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

from aiohttp import web

from fakes.discord.model import (
    _NOT_FOUND,
    ADD_REACTIONS,
    API_PREFIX,
    DIRECT_MESSAGES,
    EPHEMERAL,
    GUILD_MESSAGES,
    JSON,
    LOADING,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    ApiError,
    Handler,
    InteractionRecord,
    RecordedRequest,
    T,
    _bucket_headers,
    _command_errors,
    _emoji_key,
    _field_error,
    _form_error,
    _Injection,
    _missing_permissions,
    _now_iso,
    _parse_emoji,
    _read_body,
    _unknown,
)


class RestMixin:
    """The REST API: routing, injected faults, and each route's handler."""

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
