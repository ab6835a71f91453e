"""A client for OpenAI-style chat completions (Mistral, LM Studio, any compatible server).

Streaming (SSE) and plain. Retries with exponential backoff and jitter on connect errors, 429
(honouring Retry-After) and 5xx, but only while nothing has reached the user yet. Every failure
becomes one of a few typed errors with a clear message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from config.settings import BackendSettings
from intelligence.safety import REDACTED
from intelligence.sse import SSEParser

log = logging.getLogger(__name__)

MAX_RETRIES = 2
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
ERROR_BODY_LIMIT = 4096
ENVELOPE_BYTES = 16_384  # a plain answer's JSON around its text: ids, usage, and n choices

Sleep = Callable[[float], Awaitable[None]]


class LLMError(Exception):
    """Base of every LLM failure. ``retryable`` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMConnectionError(LLMError):
    """Could not connect, the connection dropped, or the server was too slow."""

    retryable = True


class LLMHung(LLMConnectionError):
    """The server took the request and sent nothing within ``first_byte_timeout_s``: it is hung
    (or still loading a model), and asking again would only make the viewer wait again."""

    retryable = False


class LLMRateLimited(LLMError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class LLMServerError(LLMError):
    """A 5xx from the server."""

    retryable = True


class LLMRequestError(LLMError):
    """A 4xx other than 429: a wrong key, model or request. Retrying will not help."""

    @property
    def blames_request(self) -> bool:
        """400, 413, 422: this request was refused, the backend itself is fine."""
        return self.status in (400, 413, 422)


class LLMStreamError(LLMError):
    """The stream broke after part of the answer was already sent on."""


class LLMMalformedError(LLMError):
    """The server answered with JSON of the wrong shape ("choices": 5, "delta": "x"): its fault,
    so it counts against the breaker, and trying again would get the same."""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False


@dataclass(slots=True)
class ChatRequest:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    n: int = 1
    seed: int | None = None


@dataclass(slots=True)
class Completion:
    texts: list[str]  # one per choice (``n``)
    usage: Usage


def estimate_tokens(text: str) -> int:
    """About 4 characters a token for European languages; used when a server reports none."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def estimate_usage(request: ChatRequest, answer: str) -> Usage:
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in request.messages)
    return Usage(prompt, estimate_tokens(answer), estimated=True)


@dataclass(slots=True)
class LLMStream:
    """Iterate for the answer's text pieces. Afterwards ``usage`` and ``text`` are set."""

    client: LLMClient
    request: ChatRequest
    usage: Usage | None = None
    parts: list[str] = field(default_factory=list)

    def __aiter__(self) -> AsyncIterator[str]:
        return self.client._iterate(self)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class LLMClient:
    def __init__(
        self,
        backend: BackendSettings,
        *,
        name: str = "llm",
        max_retries: int = MAX_RETRIES,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.backend = backend
        self.name = name
        self.provider = backend.provider
        self.base_url = backend.resolved_base_url
        self.model = backend.resolved_model  # the name caches and the HTTP API know it by
        # The model requests name: the configured one, else the one the server has loaded,
        # asked on first use and again after a refusal (the streamer may have switched).
        self.served_model: str | None = None if backend.uses_loaded_model else self.model
        self.max_retries = max_retries
        self._rng = rng or random.Random()
        self.sleep = sleep  # how it waits between retries
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # no key in logs
        return f"LLMClient({self.name}: {self.provider} {self.model} at {self.base_url})"

    # -- public API ---------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> LLMStream:
        return LLMStream(self, request)

    async def complete(self, request: ChatRequest) -> Completion:
        deadline = time.monotonic() + self.backend.timeout_s
        attempt = 0
        while True:
            try:
                await self._resolve_model()
                payload = await self._post_json(self.request_body(request, stream=False), deadline)
                break
            except LLMError as exc:
                await self._backoff_or_raise(exc, attempt, deadline)
                attempt += 1
        choices = _choices(payload, self.name)
        choices.sort(key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)
        texts = [_content_text(_field(c, "message", self.name).get("content")) for c in choices]
        if not texts:
            raise LLMServerError(f"{self.name}: the answer has no choices")
        usage = _usage(payload.get("usage")) or estimate_usage(request, "".join(texts))
        return Completion(texts, usage)

    async def list_models(self) -> list[str]:
        session = self._get_session()
        try:
            async with asyncio.timeout(self.backend.connect_timeout_s + 5):
                async with session.get(f"{self.base_url}/models", headers=self._headers()) as resp:
                    if resp.status >= 400:
                        raise await self._http_error(resp)
                    payload = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._connection_error(exc) from None
        if "error" in payload:  # LM Studio answers a wrong path with 200 and an error
            raise LLMRequestError(
                f"{self.name}: {_error_message(payload)} (check llm.base_url: {self.base_url})"
            )
        return [m["id"] for m in payload.get("data", []) if isinstance(m, dict) and "id" in m]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def request_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """Only the keys this provider accepts: Mistral answers 422 to any other."""
        body: dict[str, Any] = {
            "model": self.served_model or self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens or self.backend.max_tokens,
            "temperature": (
                self.backend.temperature if request.temperature is None else request.temperature
            ),
            "stream": stream,
        }
        if request.n > 1 and self.provider != "lmstudio":  # LM Studio gives one answer anyway
            body["n"] = request.n
        if request.seed is not None:
            body["random_seed" if self.provider == "mistral" else "seed"] = request.seed
        if stream and self.provider != "mistral":
            body["stream_options"] = {"include_usage": True}
        return body

    # -- internals ----------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.backend.connect_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        key = self.backend.api_key.get_secret_value()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _resolve_model(self) -> None:
        if self.served_model is None:
            models = await self.list_models()
            self.served_model = loaded_model(models)
            if self.served_model is None:
                raise LLMRequestError(
                    f"{self.name}: {self.base_url} has no chat model loaded "
                    f"(it lists: {', '.join(models) or 'nothing'}); load one, or set llm.model"
                )
            log.info("%s: using %s, the model the server has loaded", self.name, self.served_model)

    async def _iterate(self, out: LLMStream) -> AsyncIterator[str]:
        deadline = time.monotonic() + self.backend.timeout_s
        attempt = 0
        while True:
            emitted = False
            try:
                await self._resolve_model()
                body = self.request_body(out.request, stream=True)
                async for piece in self._stream_once(body, out, deadline):
                    emitted = True
                    out.parts.append(piece)
                    yield piece
                break
            except LLMError as exc:
                if emitted:
                    raise LLMStreamError(
                        f"{self.name}: the stream broke mid-answer ({exc})"
                    ) from exc
                await self._backoff_or_raise(exc, attempt, deadline)
                attempt += 1
        if out.usage is None:
            out.usage = estimate_usage(out.request, out.text)

    async def _stream_once(
        self, body: dict[str, Any], out: LLMStream, deadline: float
    ) -> AsyncIterator[str]:
        resp = await self._open(body, deadline, stream=True)
        async with resp:
            if resp.status >= 400:
                raise await self._http_error(resp)
            parser = SSEParser()
            finished = False
            read = 0  # bytes of answer text, against backend.max_answer_bytes
            first_byte_by = time.monotonic() + self.backend.first_byte_timeout_s
            while True:
                limit = min(deadline, first_byte_by) if not out.parts else deadline
                try:
                    data = await asyncio.wait_for(resp.content.readany(), limit - time.monotonic())
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    raise self._connection_error(exc, waiting_first_byte=not out.parts) from None
                events = parser.feed(data) if data else parser.close()
                for event in events:
                    if not event.strip():
                        continue
                    if event.strip() == "[DONE]":
                        return
                    payload = _json_or_none(event)
                    if payload is None:
                        log.warning("%s: skipped a malformed stream event", self.name)
                        continue
                    if "error" in payload:
                        raise LLMServerError(f"{self.name}: {_error_message(payload)}")
                    out.usage = _usage(payload.get("usage")) or out.usage
                    for choice in _choices(payload, self.name):
                        if choice.get("index", 0) != 0:
                            continue
                        finished = finished or bool(choice.get("finish_reason"))
                        piece = _content_text(_field(choice, "delta", self.name).get("content"))
                        if piece:
                            read += len(piece.encode())
                            if read > self.backend.max_answer_bytes:
                                log.warning(
                                    "%s: the answer passed %d bytes; read no further",
                                    self.name,
                                    self.backend.max_answer_bytes,
                                )
                                return
                            yield piece
                if not data:
                    if finished:  # some servers close without [DONE] after finish_reason
                        return
                    raise LLMConnectionError(f"{self.name}: the stream ended before the answer")

    async def _open(
        self, body: dict[str, Any], deadline: float, *, stream: bool
    ) -> aiohttp.ClientResponse:
        """POST and wait for the response headers, within the first-byte and total limits."""
        session = self._get_session()
        wait = min(self.backend.first_byte_timeout_s, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(
                session.post(
                    f"{self.base_url}/chat/completions",
                    json=body,
                    headers=self._headers(stream=stream),
                ),
                max(wait, 0.001),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._connection_error(exc, waiting_first_byte=True) from None

    async def _post_json(self, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        resp = await self._open(body, deadline, stream=False)
        async with resp:
            if resp.status >= 400:
                raise await self._http_error(resp)
            limit = self.backend.max_answer_bytes + ENVELOPE_BYTES
            try:
                raw = await asyncio.wait_for(
                    _read_at_most(resp, limit), deadline - time.monotonic()
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise self._connection_error(exc) from None
            if raw is None:
                raise LLMMalformedError(f"{self.name}: the answer is over {limit} bytes")
        payload = _json_or_none(raw.decode("utf-8", errors="replace"))
        if payload is None:
            raise LLMServerError(f"{self.name}: the answer is not JSON")
        return payload

    async def _backoff_or_raise(self, exc: LLMError, attempt: int, deadline: float) -> None:
        if not exc.retryable or attempt >= self.max_retries:
            raise exc
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * self._rng.uniform(0.5, 1.0)
        if isinstance(exc, LLMRateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        if time.monotonic() + delay >= deadline:
            raise exc
        log.info("%s: %s; retry %d in %.1fs", self.name, exc, attempt + 1, delay)
        await self.sleep(delay)

    def _connection_error(
        self, exc: BaseException, *, waiting_first_byte: bool = False
    ) -> LLMConnectionError:
        # aiohttp's own timeouts (connecting) are TimeoutErrors too: a network blip, retried.
        if waiting_first_byte and type(exc) is TimeoutError:
            return LLMHung(
                f"{self.name}: {self.base_url} sent nothing in "
                f"{self.backend.first_byte_timeout_s:g} s (llm.first_byte_timeout_s)"
            )
        if isinstance(exc, TimeoutError):
            return LLMConnectionError(f"{self.name}: no answer from {self.base_url} in time")
        reason = str(exc) or type(exc).__name__
        return LLMConnectionError(f"{self.name}: cannot reach {self.base_url} ({reason})")

    async def _http_error(self, resp: aiohttp.ClientResponse) -> LLMError:
        try:
            raw = await asyncio.wait_for(resp.content.read(ERROR_BODY_LIMIT), 5)
        except (aiohttp.ClientError, OSError, TimeoutError):
            raw = b""
        payload = _json_or_none(raw.decode("utf-8", errors="replace"))
        detail = _error_message(payload) if payload else raw.decode("utf-8", "replace")[:200]
        key = self.backend.api_key.get_secret_value()
        if key:  # some servers echo the key they refused: it must not reach a log
            detail = detail.replace(key, REDACTED)
        message = f"{self.name}: HTTP {resp.status}: {detail or resp.reason}"
        if resp.status == 429:
            return LLMRateLimited(
                message, retry_after=_retry_after(resp.headers.get("Retry-After"))
            )
        if resp.status >= 500:
            return LLMServerError(message, status=resp.status)
        if resp.status in (401, 403):
            message += " (check llm.api_key)"
        elif resp.status == 404:
            model = self.served_model or self.model
            message += f" (check llm.base_url and llm.model; model is {model!r})"
        if self.backend.uses_loaded_model:
            self.served_model = None  # another model may be loaded now: ask again next time
        return LLMRequestError(message, status=resp.status)


def loaded_model(models: list[str]) -> str | None:
    """The model a local server serves when asked for none: the first it lists that can chat
    (LM Studio lists its embedding models too)."""
    return next((model for model in models if "embed" not in model.lower()), None)


def _json_or_none(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await resp.content.read(65_536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _choices(payload: dict[str, Any], name: str) -> list[dict[str, Any]]:
    choices = payload.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise LLMMalformedError(f"{name}: malformed answer: choices is {_shape(choices)}")
    return choices


def _field(choice: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = choice.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LLMMalformedError(f"{name}: malformed answer: {key} is {_shape(value)}")
    return value


def _shape(value: Any) -> str:
    """A short description of a JSON value, for a log line: never the whole of it."""
    return f"{type(value).__name__} {json.dumps(value, ensure_ascii=False)[:60]}"


def _content_text(content: Any) -> str:
    """``content`` may be a string, a list of chunks ({"type":"text","text":...}) or missing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return ""


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def _error_message(payload: dict[str, Any]) -> str:
    """Both shapes: {"error": {...} | "..."} (OpenAI, LM Studio) and {"message": ...} (Mistral)."""
    error = payload.get("error", payload)
    if isinstance(error, str):
        return error[:300]
    message = error.get("message", error.get("detail", "")) if isinstance(error, dict) else ""
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)
    return message[:300]


def _retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
