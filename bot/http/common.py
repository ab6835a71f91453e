"""What every HTTP route shares: errors in OpenAI's shape, JSON bodies, SSE, security headers,
the chat log row."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any

from aiohttp import web

from commands.types import ChatMessage, Platform, Reply, Role
from intelligence.llm import Usage
from intelligence.store import LogRow, Store

# Sent on every response. The API serves JSON and event streams only: nothing may be framed,
# sniffed into HTML, or load anything.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Server": "quipbot",
}
JSON_HEADERS = {**SECURITY_HEADERS, "Content-Type": "application/json"}
SSE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once
}
SSE_DONE = b"data: [DONE]\n\n"
CONVERSATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
CONVERSATION_RULE = "conversation_id must be 1-64 characters among letters, digits and . _ : -"

# OpenAI's error ``type`` for each status we answer with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An answer with an error status, rendered as ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def dumps(value: Any) -> bytes:
    # A lone surrogate a client sent (echoed in an error message) becomes the JSON escape
    # "\\udXXX" instead of failing to encode.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "backslashreplace")


def json_response(
    value: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(value),
        status=status,
        headers={**JSON_HEADERS, **headers} if headers else JSON_HEADERS,
    )


def sse_event(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


READ_TIMEOUT_S = web.AppKey("read_timeout_s", float)


async def read_body(request: web.Request) -> bytes:
    """The whole body; an over-size body is aiohttp's 413, a body that comes too slowly (a
    slowloris holding a connection open) a 408 that closes the connection."""
    timeout_s = request.app[READ_TIMEOUT_S]
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        request.protocol.close()  # after the 408: the rest of the body is never read
        raise ApiError(
            408, f"the request body took more than {timeout_s:g} s to arrive", code="timeout"
        ) from None


async def read_json(request: web.Request) -> Any:
    """The body as JSON (see ``parse_json``)."""
    return parse_json(await read_body(request))


def parse_json(raw: bytes) -> Any:
    """Malformed, non-UTF-8, NaN/Infinity or absurdly nested bodies are 400s."""
    if not raw:
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise ApiError(400, f"the body is not valid JSON ({exc})", code="invalid_json") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def has_surrogates(text: str) -> bool:
    """JSON may carry lone UTF-16 surrogates ("\\ud800"); they cannot be hashed, stored or sent."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def end_user(request: web.Request, fallback: str | None = None) -> str:
    """Who the answer is for, from ``X-Quipbot-User`` (else ``fallback``): the chat log's user
    id and part of the rate-limit key."""
    value = request.headers.get("X-Quipbot-User", fallback or "")
    if len(value) > 100 or has_surrogates(value) or not value.isprintable():
        raise ApiError(
            400, "X-Quipbot-User must be at most 100 printable characters", code="invalid_value"
        )
    return value or "anonymous"


def api_message(
    request: web.Request, channel: str, text: str, conversation: str | None = None
) -> ChatMessage:
    """An API request as the router sees it: a viewer named by ``X-Quipbot-User``, in the
    ``channel`` named after its route."""
    user = end_user(request)
    return ChatMessage(
        Platform.HTTP, channel, user, user, frozenset({Role.VIEWER}), text, conversation
    )


def refused(reply: Reply | None) -> ApiError:
    """The router's refusal (a cooldown notice, or silence over the rate limit) as a 429."""
    wait = math.ceil(reply.retry_after_s) if reply and reply.retry_after_s else 60
    message = reply.text if reply is not None else "too many commands from this user"
    return ApiError(
        429, message, code="rate_limit_exceeded", headers={"Retry-After": str(max(1, wait))}
    )


def no_cache(request: web.Request) -> bool:
    """``Cache-Control: no-cache``: answer afresh (the fresh answer is still cached)."""
    return "no-cache" in request.headers.get("Cache-Control", "").lower()


def log_exchange(
    store: Store,
    *,
    route: str,
    command: str,
    user: str,
    prompt: str,
    answer: str,
    source: str,
    usage: Usage | None,
    started: float,
) -> None:
    """One chat log row for an HTTP answer (``started``: its perf_counter at arrival)."""
    usage = usage or Usage(0, 0)
    latency_ms = (time.perf_counter() - started) * 1000
    store.log_chat(
        LogRow(
            "http",
            route,
            user,
            command,
            prompt,
            answer,
            source,
            latency_ms,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
    )
