"""The gateway: identify, resume, heartbeats and dispatched events."""

from __future__ import annotations

import contextlib
import json
import secrets

from aiohttp import WSMsgType, web

from fakes.discord.model import (
    DIRECT_MESSAGES,
    EPHEMERAL,
    GUILD_MESSAGES,
    GUILDS,
    JSON,
    MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    GatewayConnection,
    _Conn,
    _Session,
)


class GatewayMixin:
    """The gateway: identify, resume, heartbeats and dispatched events."""

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
