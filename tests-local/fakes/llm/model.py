"""The fake LLM's vocabulary: flavours, faults, recorded requests, and body helpers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict

log = logging.getLogger("fake_llm")

Flavour = Literal["mistral", "lmstudio"]
# "auto" picks the flavour's natural error body; "text" imitates a proxy's HTML error page.
ErrorShape = Literal["auto", "mistral", "object", "string", "text"]
Body = dict[str, Any]
ReplyFn = Callable[[Body], str | Awaitable[str]]

# Keys the real Mistral API accepts on /v1/chat/completions; anything else is a 422.
MISTRAL_REQUEST_KEYS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "safe_prompt",
        "prediction",
        "parallel_tool_calls",
    }
)
# Mistral also validates each message against its role's schema (e.g. ``name`` on a user
# message is rejected), which is an easy mistake when sending chat usernames along.
MISTRAL_MESSAGE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
}

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"\s*\S+|\s+")  # leading spaces, like real tokens
_WORDS_PER_CHUNK = 3


@dataclass
class Fault:
    """One scripted misbehaviour, consumed by the next chat completion request."""

    kind: Literal["error", "rate_limit", "drop", "hang", "malformed"]
    status: int = 500
    shape: ErrorShape = "auto"
    message: str | None = None
    retry_after: float | None = None
    chunks: int = 0  # drop: content chunks sent before closing the connection
    seconds: float | None = None  # hang: None means until the client or the server gives up
    after_chunks: int | None = None  # hang: stall mid-stream instead of before the response
    payloads: tuple[Any, ...] = ()  # malformed: the JSON values sent instead of the answer


@dataclass
class RecordedRequest:
    """A chat completion request as the fake received it."""

    method: str
    path: str
    headers: CIMultiDict[str]
    body: Any  # parsed JSON, or None when the body was not valid JSON
    raw: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Choice:
    index: int
    text: str
    finish_reason: str


# ------------------------------------------------------------------------ helpers


def _json_response(
    body: Body, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    text = json.dumps(body, ensure_ascii=False)
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def _mistral_422(detail: list[Body]) -> web.Response:
    body = {
        "object": "error",
        "message": {"detail": detail},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return _json_response(body, status=422)


def _detail(kind: str, loc: list[Any], msg: str, value: Any = None) -> Body:
    """One pydantic-style validation error, as listed in Mistral's 422 bodies."""
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _mistral_message_errors(i: int, message: Any) -> list[Body]:
    loc: list[Any] = ["body", "messages", i]
    if not isinstance(message, dict):
        return [
            _detail("model_attributes_type", loc, "Input should be a valid dictionary", message)
        ]
    role = message.get("role")
    allowed = MISTRAL_MESSAGE_KEYS.get(role) if isinstance(role, str) else None
    if allowed is None:
        expected = ", ".join(f"'{r}'" for r in MISTRAL_MESSAGE_KEYS)
        msg = f"Input tag '{role}' found using 'role' does not match any of the expected tags: "
        return [_detail("union_tag_invalid", loc, msg + expected, message)]
    return [
        _detail("extra_forbidden", [*loc, role, key], "Extra inputs are not permitted", value)
        for key, value in message.items()
        if key not in allowed
    ]


def _text_of(content: Any) -> str:
    """Message content as plain text; it may be a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_user_text(body: Body) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _count_tokens(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def _apply_limits(text: str, stop: Any, max_tokens: Any) -> tuple[str, str]:
    """Honour ``stop`` and ``max_tokens`` (words and punctuation stand in for tokens)."""
    finish = "stop"
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    if isinstance(max_tokens, int) and max_tokens >= 0:
        tokens = list(_TOKEN_RE.finditer(text))
        if len(tokens) > max_tokens:
            text = text[: tokens[max_tokens - 1].end()] if max_tokens else ""
            finish = "length"
    return text, finish


def _usage(body: Body, choices: list[_Choice]) -> Body:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt = sum(_count_tokens(_text_of(m.get("content"))) + 1 for m in messages)
    completion = sum(_count_tokens(c.text) for c in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _close_connection(request: web.Request) -> None:
    # close() rather than abort(): already-written bytes still reach the client, then EOF.
    if request.transport is not None:
        request.transport.close()


async def _sleep(seconds: float | None) -> None:
    if seconds is None:
        await asyncio.Event().wait()  # until cancelled by stop() or a client disconnect
    else:
        await asyncio.sleep(seconds)
