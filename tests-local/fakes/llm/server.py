"""FakeLLM itself: lifecycle, the fault script and routing."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from typing import Any

from aiohttp import web

from fakes.llm.completions import CompletionsMixin
from fakes.llm.model import (
    MISTRAL_REQUEST_KEYS,
    ErrorShape,
    Fault,
    Flavour,
    RecordedRequest,
    ReplyFn,
    _json_response,
    log,
)
from fakes.llm.sse import SSEMixin


class FakeLLM(CompletionsMixin, SSEMixin):
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

    def malformed_next(self, *payloads: Any, times: int = 1) -> None:
        """Answer with these JSON values instead of the answer: each as one stream event (then
        ``[DONE]``), or the first as the whole body of a plain request."""
        self._queue(Fault("malformed", payloads=payloads), times)

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
