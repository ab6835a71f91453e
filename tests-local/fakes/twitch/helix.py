"""api.twitch.tv/helix: users, subscriptions and chat messages."""

from __future__ import annotations

import time
import uuid

from aiohttp import web

from fakes.twitch.model import (
    _JSON_BODY,
    CHAT_MESSAGE,
    DUPLICATE_MESSAGE,
    FakeToken,
    SentChat,
    Subscription,
    _helix_error,
    _json,
)


class HelixMixin:
    """api.twitch.tv/helix: users, subscriptions and chat messages."""

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

    async def _check_automod_status(self, request: web.Request, token: FakeToken) -> web.Response:
        """Check AutoMod Status: the broadcaster must have granted moderation:read to this
        client (with an app token) or be the token's user; rate limited per channel."""
        broadcaster_id = request.query.get("broadcaster_id", "")
        if broadcaster_id not in self.users:
            return _helix_error(400, "The broadcaster_id query parameter is required")
        if token.user_id not in (None, broadcaster_id):
            return _helix_error(403, "Broadcaster ID doesn't match the User ID in the token")
        if "moderation:read" not in self._grants.get(broadcaster_id, set()):
            return _helix_error(401, "Missing scope: moderation:read")
        now = self._clock()
        recent = [t for b, _, t in self._automod_log if b == broadcaster_id and now - t < 60]
        if len(recent) >= self.automod_per_minute:
            reset = str(int(time.time() + 60 - (now - min(recent))))
            return _helix_error(429, "Too Many Requests", {"Ratelimit-Reset": reset})
        body = request[_JSON_BODY] if isinstance(request[_JSON_BODY], dict) else {}
        results = []
        for message in body.get("data") or []:
            text = str(message.get("msg_text", ""))
            held = any(term in text.lower() for term in self.automod_terms)
            results.append({"msg_id": message.get("msg_id"), "is_permitted": not held})
            self.automod_checks.append((broadcaster_id, text))
            self._automod_log.append((broadcaster_id, text, now))
        return _json({"data": results})

    def _refuse(self, record: SentChat, status: int, message: str) -> web.Response:
        record.error = message
        return _helix_error(status, message)

    async def _helix_not_found(self, request: web.Request, token: FakeToken) -> web.Response:
        return _helix_error(404, f"the fake does not implement {request.method} {request.path}")
