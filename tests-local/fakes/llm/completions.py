"""POST /v1/chat/completions in each flavour's shape, streamed or not."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from fakes.llm.model import (
    _WORD_RE,
    _WORDS_PER_CHUNK,
    Body,
    Fault,
    RecordedRequest,
    _apply_limits,
    _Choice,
    _close_connection,
    _detail,
    _json_response,
    _last_user_text,
    _mistral_422,
    _mistral_message_errors,
    _sleep,
    _usage,
    log,
)


class CompletionsMixin:
    """POST /v1/chat/completions in each flavour's shape, streamed or not."""

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
            if fault is not None and fault.kind == "malformed":
                return await self._malformed(request, body, fault)
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
        if len(self.models) > 1 and body.get("model") not in self.models:
            return self._unknown_model(body.get("model"))
        return None

    def _unknown_model(self, model: Any) -> web.Response:
        """LM Studio ignores ``model`` while it has one model loaded; with several, it refuses
        any other name, listing a few of its models."""
        error = {
            "message": f"Invalid model identifier {json.dumps(model)}. Please specify a valid "
            f"downloaded model (e.g., {', '.join(self.models[:3])}).",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
        return _json_response({"error": error}, status=400)

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

    async def _malformed(
        self, request: web.Request, body: Body, fault: Fault
    ) -> web.StreamResponse:
        if not body.get("stream"):
            return _json_response(fault.payloads[0])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        for payload in fault.payloads:
            await resp.write(self._event(json.dumps(payload)))
        await resp.write(self._event("[DONE]"))
        await resp.write_eof()
        return resp

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
