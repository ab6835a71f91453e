"""A fake OpenAI-compatible LLM server (Mistral API / LM Studio flavours) for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` (stream and non-stream) and ``GET /v1/models`` closely
enough to exercise a real client: flavour-specific chunk layout, usage placement and error
bodies, plus a FIFO fault script (HTTP errors, 429s, dropped streams, hangs) and SSE formatting
knobs (CRLF, comments, multi-line ``data:``, list content) to stress the client's parser.

In tests::

    async with FakeLLM(flavour="mistral", api_key="k") as fake:
        fake.rate_limit_next(retry_after=0.1)
        ...  # point the client at fake.base_url

Standalone (prints the base URL on stdout, logs on stderr)::

    python tests-local/fakes/fake_llm.py --port 8999 --latency 1.5 --flavour lmstudio
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import re
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
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

    kind: Literal["error", "rate_limit", "drop", "hang"]
    status: int = 500
    shape: ErrorShape = "auto"
    message: str | None = None
    retry_after: float | None = None
    chunks: int = 0  # drop: content chunks sent before closing the connection
    seconds: float | None = None  # hang: None means until the client or the server gives up
    after_chunks: int | None = None  # hang: stall mid-stream instead of before the response


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


class FakeLLM:
    """An in-process aiohttp server imitating the Mistral API or LM Studio.

    All public attributes may be changed while the server runs; each request reads them afresh.
    """

    def __init__(
        self,
        *,
        flavour: Flavour = "mistral",
        models: list[str] | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        token_delay_s: float = 0.0,
        reply: str | ReplyFn | None = None,
        chunk_chars: int | None = None,
        line_ending: str = "\n",
        comments: bool = False,
        multiline_data: bool = False,
        content_as_list: bool = False,
        role_only_first_chunk: bool = False,
        max_parallel: int | None = None,
        check_model: bool = False,
    ) -> None:
        self.flavour: Flavour = flavour
        default_model = "mistral-small-latest" if flavour == "mistral" else "local-model"
        self.models: list[str] = list(models) if models else [default_model]
        self.api_key = api_key
        self.host = host
        self.port = port  # 0 until first bound; later starts reuse the bound port
        self.latency_s = latency_s
        self.token_delay_s = token_delay_s
        self.reply: str | ReplyFn | None = reply  # None: "Answer to: <last user message>"
        self.chunk_chars = chunk_chars  # None: a few words per chunk
        self.line_ending = line_ending
        self.comments = comments
        self.multiline_data = multiline_data
        self.content_as_list = content_as_list
        self.role_only_first_chunk = role_only_first_chunk
        self.max_parallel = max_parallel  # None: unlimited; LM Studio on one GPU is ~1
        self.check_model = check_model  # reject models not in ``models`` (400, like Mistral)
        self.request_keys = MISTRAL_REQUEST_KEYS  # strictness set for the mistral flavour

        self.calls = 0
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        self.in_flight = 0
        self.max_in_flight = 0

        self._runner: web.AppRunner | None = None
        self._slots = asyncio.Condition()

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeLLM has not been started yet")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, port: int | None = None) -> str:
        """Bind and serve; returns ``base_url``. Restarting reuses the previously bound port."""
        if self._runner is not None:
            raise RuntimeError("FakeLLM is already running")
        if port is not None:
            self.port = port
        self._slots = asyncio.Condition()  # bound to the current loop on first use
        # A short shutdown timeout so stop() does not wait on hung or slow streams.
        runner = web.AppRunner(self._make_app(), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("fake LLM (%s) listening on %s", self.flavour, self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; in-flight responses are cut off after a short grace period."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("fake LLM stopped")

    async def __aenter__(self) -> FakeLLM:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ fault script

    def fail_next(
        self,
        status: int = 500,
        times: int = 1,
        shape: ErrorShape = "auto",
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` chat requests with an HTTP error."""
        self._queue(Fault("error", status=status, shape=shape, message=message), times)

    def rate_limit_next(
        self, retry_after: float | None = 1.0, times: int = 1, shape: ErrorShape = "auto"
    ) -> None:
        """Answer with 429 (and a ``Retry-After`` header unless ``retry_after`` is None)."""
        self._queue(Fault("rate_limit", status=429, shape=shape, retry_after=retry_after), times)

    def drop_stream_after(self, chunks: int = 3, times: int = 1) -> None:
        """Close the connection after ``chunks`` content chunks, without ``[DONE]``.

        A non-stream request hit by this fault gets its connection closed with no response.
        """
        self._queue(Fault("drop", chunks=chunks), times)

    def hang_next(
        self, seconds: float | None = None, times: int = 1, after_chunks: int | None = None
    ) -> None:
        """Stall for ``seconds`` (None: indefinitely) then carry on normally.

        With ``after_chunks`` the stall happens mid-stream, after that many content chunks.
        """
        self._queue(Fault("hang", seconds=seconds, after_chunks=after_chunks), times)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget counters, recorded requests and pending faults (configuration stays)."""
        self.calls = 0
        self.requests.clear()
        self.faults.clear()
        self.max_in_flight = self.in_flight

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``calls >= count``; handy when the client calls from a background task."""
        async with asyncio.timeout(timeout):
            while self.calls < count:
                await asyncio.sleep(0.005)

    def _queue(self, fault: Fault, times: int) -> None:
        for _ in range(times):
            self.faults.append(dataclasses.replace(fault))

    # ------------------------------------------------------------------ routing

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _unknown(self, request: web.Request) -> web.Response:
        if self.flavour == "lmstudio":
            # LM Studio really does answer unknown routes with 200 and an error body.
            text = f"Unexpected endpoint or method. ({request.method} {request.path})"
            return _json_response({"error": text}, status=200)
        return _json_response({"detail": "Not Found"}, status=404)

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        created = int(time.time())
        if self.flavour == "mistral":
            data = [
                {
                    "id": name,
                    "object": "model",
                    "created": created,
                    "owned_by": "mistralai",
                    "capabilities": {"completion_chat": True, "function_calling": True},
                    "name": name,
                    "max_context_length": 32768,
                    "type": "base",
                }
                for name in self.models
            ]
        else:
            data = [
                {"id": name, "object": "model", "owned_by": "organization_owner"}
                for name in self.models
            ]
        return _json_response({"object": "list", "data": data})

    # ------------------------------------------------------------ completions

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        body: Any
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.calls += 1
        self.requests.append(
            RecordedRequest(request.method, request.path, CIMultiDict(request.headers), body, raw)
        )
        # Faults apply to the very next call, whatever it contains.
        fault = self.faults.popleft() if self.faults else None
        log.debug("chat call #%d fault=%s", self.calls, fault and fault.kind)

        if fault is not None and fault.kind in ("error", "rate_limit"):
            return self._fault_response(fault)
        if fault is not None and fault.kind == "hang" and fault.after_chunks is None:
            await _sleep(fault.seconds)
        if (denied := self._check_auth(request)) is not None:
            return denied
        if (invalid := self._validate(body)) is not None:
            return invalid

        async with self._slot():
            await asyncio.sleep(self.latency_s)
            choices = await self._choices(body)
            if body.get("stream"):
                return await self._stream(request, body, choices, fault)
            if fault is not None and fault.kind == "drop":
                _close_connection(request)
                return web.Response()  # never sent: the transport is already closed
            return _json_response(self._completion(body, choices))

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Limit concurrent generations to ``max_parallel``, queueing the rest like LM Studio."""
        async with self._slots:
            await self._slots.wait_for(
                lambda: self.max_parallel is None or self.in_flight < self.max_parallel
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1  # synchronously, so a cancelled handler never leaks a slot
            async with self._slots:
                self._slots.notify_all()

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        if self.flavour == "mistral":
            body: Body = {"message": "Unauthorized", "request_id": uuid.uuid4().hex}
        else:
            body = {"error": {"message": "Invalid API key", "type": "invalid_request_error"}}
        return _json_response(body, status=401)

    def _validate(self, body: Any) -> web.Response | None:
        if self.flavour == "mistral":
            return self._validate_mistral(body)
        if not isinstance(body, dict):
            return self._error(400, "Invalid JSON in request body", "object")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(400, "'messages' field is required", "string")
        return None

    def _validate_mistral(self, body: Any) -> web.Response | None:
        # Mirrors FastAPI/pydantic 422s: every problem listed in message.detail.
        if body is None:
            return _mistral_422([_detail("json_invalid", ["body", 0], "JSON decode error")])
        if not isinstance(body, dict):
            return _mistral_422(
                [_detail("dict_type", ["body"], "Input should be a valid dictionary")]
            )
        detail = [
            _detail("extra_forbidden", ["body", key], "Extra inputs are not permitted", body[key])
            for key in body
            if key not in self.request_keys
        ]
        detail += [
            _detail("missing", ["body", key], "Field required", body)
            for key in ("model", "messages")
            if key not in body
        ]
        messages = body.get("messages")
        if isinstance(messages, list):
            for i, message in enumerate(messages):
                detail += _mistral_message_errors(i, message)
        elif messages is not None:
            detail.append(
                _detail("list_type", ["body", "messages"], "Input should be a valid list")
            )
        if detail:
            return _mistral_422(detail)
        if self.check_model and body["model"] not in self.models:
            error = {
                "object": "error",
                "message": f"Invalid model: {body['model']}",
                "type": "invalid_model",
                "param": None,
                "code": "1500",
            }
            return _json_response(error, status=400)
        return None

    async def _choices(self, body: Body) -> list[_Choice]:
        if self.reply is None:
            text = f"Answer to: {_last_user_text(body)}"
        elif isinstance(self.reply, str):
            text = self.reply
        else:
            result = self.reply(body)
            text = await result if inspect.isawaitable(result) else result
        n = body.get("n")
        n = n if isinstance(n, int) and n > 0 else 1
        choices = []
        for i in range(n):
            choice_text, finish = _apply_limits(
                text if n == 1 else f"{text} #{i}", body.get("stop"), body.get("max_tokens")
            )
            choices.append(_Choice(i, choice_text, finish))
        return choices

    def _completion(self, body: Body, choices: list[_Choice]) -> Body:
        message_extra: Body = (
            {"tool_calls": None, "prefix": False} if self.flavour == "mistral" else {}
        )
        return {
            **self._envelope(body, "chat.completion"),
            "choices": [
                {
                    "index": c.index,
                    "message": {
                        "role": "assistant",
                        "content": self._content(c.text),
                        **message_extra,
                    },
                    **({"logprobs": None} if self.flavour == "lmstudio" else {}),
                    "finish_reason": c.finish_reason,
                }
                for c in choices
            ],
            "usage": _usage(body, choices),
        }

    async def _stream(
        self, request: web.Request, body: Body, choices: list[_Choice], fault: Fault | None
    ) -> web.StreamResponse:
        events = self._stream_events(body, choices)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await resp.prepare(request)
        drop_at = fault.chunks if fault is not None and fault.kind == "drop" else None
        stall_at = fault.after_chunks if fault is not None and fault.kind == "hang" else None
        stall_s = fault.seconds if fault is not None else None
        sent_content = 0
        try:
            for i, (payload, is_content) in enumerate(events):
                if drop_at is not None and sent_content >= drop_at:
                    break
                if stall_at is not None and sent_content >= stall_at:
                    stall_at = None
                    await _sleep(stall_s)
                if i and self.token_delay_s:
                    await asyncio.sleep(self.token_delay_s)
                await resp.write(self._event(json.dumps(payload, **self._json_style())))
                sent_content += is_content
            if drop_at is not None:
                _close_connection(request)  # mid-body close: client sees an incomplete payload
                return resp
            await resp.write(self._event("[DONE]"))
            await resp.write_eof()
        except ConnectionError:
            log.debug("client went away mid-stream")
        return resp

    def _stream_events(self, body: Body, choices: list[_Choice]) -> list[tuple[Body, bool]]:
        """Build every chunk up front as (payload, carries_content), interleaving choices."""
        envelope = self._envelope(body, "chat.completion.chunk")
        mistral = self.flavour == "mistral"

        def chunk(index: int, delta: Body, finish: str | None = None) -> Body:
            extra: Body = {} if mistral else {"logprobs": None}
            return {
                **envelope,
                "choices": [{"index": index, "delta": delta, **extra, "finish_reason": finish}],
            }

        events: list[tuple[Body, bool]] = []
        for c in choices:
            if self.role_only_first_chunk:
                events.append((chunk(c.index, {"role": "assistant"}), False))
            elif mistral:  # Mistral opens each choice with an empty role chunk
                events.append((chunk(c.index, {"role": "assistant", "content": ""}), False))
        pieces = [self._split(c.text) for c in choices]
        for step in range(max(len(p) for p in pieces)):
            for c, parts in zip(choices, pieces, strict=True):
                if step >= len(parts):
                    continue
                last = step == len(parts) - 1
                delta: Body = {"content": self._content(parts[step])}
                if not mistral:
                    delta = {"role": "assistant", **delta}  # LM Studio repeats the role
                # Mistral puts finish_reason on the last content chunk itself.
                events.append(
                    (chunk(c.index, delta, c.finish_reason if mistral and last else None), True)
                )
        if not mistral:  # LM Studio closes each choice with an empty delta
            events.extend((chunk(c.index, {}, c.finish_reason), False) for c in choices)
        if mistral:  # only Mistral reports usage while streaming, in the last chunk
            events[-1][0]["usage"] = _usage(body, choices)
        return events

    def _split(self, text: str) -> list[str]:
        if not text:
            return [""]
        if self.chunk_chars:
            step = self.chunk_chars
            return [text[i : i + step] for i in range(0, len(text), step)]
        words = _WORD_RE.findall(text)
        return [
            "".join(words[i : i + _WORDS_PER_CHUNK]) for i in range(0, len(words), _WORDS_PER_CHUNK)
        ]

    def _content(self, text: str) -> str | list[Body]:
        return [{"type": "text", "text": text}] if self.content_as_list else text

    def _envelope(self, body: Body, obj: str) -> Body:
        mistral = self.flavour == "mistral"
        envelope: Body = {
            "id": uuid.uuid4().hex if mistral else f"chatcmpl-{uuid.uuid4().hex[:20]}",
            "object": obj,
            "created": int(time.time()),
            "model": body.get("model") or self.models[0],
        }
        if not mistral:
            envelope["system_fingerprint"] = envelope["model"]
        return envelope

    # ------------------------------------------------------------ SSE & errors

    def _json_style(self) -> Body:
        # Pretty-printed JSON spans several lines, each sent as its own ``data:`` line; SSE
        # rejoins them with "\n", which is still valid JSON (strings never hold raw newlines).
        if self.multiline_data:
            return {"ensure_ascii": False, "indent": 1}
        return {"ensure_ascii": False, "separators": (",", ":")}

    def _event(self, data: str) -> bytes:
        eol = self.line_ending
        text = f": keep-alive{eol}{eol}" if self.comments else ""
        text += "".join(f"data: {line}{eol}" for line in data.split("\n")) + eol
        return text.encode()

    def _fault_response(self, fault: Fault) -> web.Response:
        headers = {}
        if fault.kind == "rate_limit":
            message = fault.message or "Requests rate limit exceeded"
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            err_type = "rate_limited"
        else:
            message = fault.message or f"Injected failure (HTTP {fault.status})"
            err_type = "invalid_request_error" if fault.status < 500 else "internal_server_error"
        return self._error(fault.status, message, fault.shape, err_type=err_type, headers=headers)

    def _error(
        self,
        status: int,
        message: str,
        shape: ErrorShape,
        *,
        err_type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        if shape == "auto":
            shape = "mistral" if self.flavour == "mistral" else "object"
        if shape == "text":
            html = f"<html><body><h1>{status}</h1>{message}</body></html>"
            return web.Response(status=status, text=html, content_type="text/html", headers=headers)
        body: Body
        if shape == "mistral":
            body = {
                "object": "error",
                "message": message,
                "type": err_type,
                "param": None,
                "code": None,
            }
        elif shape == "object":
            body = {"error": {"message": message, "type": err_type, "param": None, "code": None}}
        else:
            body = {"error": message}
        return _json_response(body, status=status, headers=headers)


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


# ---------------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Fake OpenAI-compatible LLM server (Mistral/LM Studio)."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--flavour", choices=["mistral", "lmstudio"], default="mistral")
    p.add_argument("--model", action="append", dest="models", help="repeatable")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before the first byte")
    p.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    p.add_argument("--chunk-chars", type=int, help="characters per chunk (default: 3 words)")
    p.add_argument("--reply", help="fixed reply text (default: 'Answer to: <prompt>')")
    p.add_argument("--max-parallel", type=int, help="concurrent generations; others queue")
    p.add_argument("--crlf", action="store_true", help="end SSE lines with CRLF")
    p.add_argument("--comments", action="store_true", help="send ': keep-alive' comments")
    p.add_argument("--multiline-data", action="store_true", help="split JSON over data: lines")
    p.add_argument("--content-as-list", action="store_true", help="delta.content as a list")
    p.add_argument("--role-only-first-chunk", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeLLM(
        flavour=args.flavour,
        models=args.models,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        latency_s=args.latency,
        token_delay_s=args.token_delay,
        reply=args.reply,
        chunk_chars=args.chunk_chars,
        line_ending="\r\n" if args.crlf else "\n",
        comments=args.comments,
        multiline_data=args.multiline_data,
        content_as_list=args.content_as_list,
        role_only_first_chunk=args.role_only_first_chunk,
        max_parallel=args.max_parallel,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with fake:
        print(fake.base_url, flush=True)  # stdout carries only the URL, for scripts to read
        await stopping.wait()
    log.info("served %d chat completion calls", fake.calls)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
