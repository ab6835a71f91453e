"""The EventSub websocket: welcome, keepalives, reconnects."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from fakes.twitch.model import (
    _RECORD,
    CLOSE_CONNECTION_UNUSED,
    CLOSE_INBOUND_TRAFFIC,
    CLOSE_INVALID_RECONNECT,
    CLOSE_RECONNECT_GRACE_EXPIRED,
    Connection,
    Notification,
    _helix_error,
    _keepalive_seconds,
    _matches,
    _new_session_id,
    _Session,
    _timestamp,
)


class WebsocketMixin:
    """The EventSub websocket: welcome, keepalives, reconnects."""

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
