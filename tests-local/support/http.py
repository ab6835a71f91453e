"""Fixtures and helpers shared by the HTTP API tests: a real server on 127.0.0.1:0 in front of
the fake LLM, and checks of the OpenAI error shape."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from fakes.llm import FakeLLM

from bot.app import App, build_app
from bot.http import HttpAdapter, create
from config.settings import Settings

KEY = "qb-test-key-0123456789abcdef"
LLM_KEY = "sk-llmsecret0123456789abcdef"
MODEL = "local-model"
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def make_settings(tmp_path, fake: FakeLLM | None, **http: Any) -> Settings:
    llm: dict[str, Any] = {"provider": "offline"}
    if fake is not None:
        llm = {
            "provider": "lmstudio",
            "base_url": fake.base_url,
            "api_key": LLM_KEY,
            "timeout_s": 5,
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 5,
            "breaker_failures": 1,
        }
    return Settings(
        bot={"data_dir": tmp_path / "data", "language": "en"},
        llm=llm,
        http={
            "enabled": True,
            "host": "127.0.0.1",
            "port": 0,
            "api_key": KEY,
            "rate_per_min": 0,
            **http,
        },
    )


@asynccontextmanager
async def serving(app: App) -> AsyncIterator[HttpAdapter]:
    """Run the HTTP adapter as ``quipbot run`` does, until the block ends."""
    adapter = create(app)
    app.adapters[adapter.name] = adapter
    task = asyncio.create_task(adapter.run())
    ready = asyncio.create_task(adapter.ready.wait())
    await asyncio.wait([task, ready], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raises why it could not start
    try:
        yield adapter
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class ServedInThread:
    """quipbot's HTTP server (and the fake LLM, with ``fake_llm``) on an event loop of its own
    in a thread, so that a blocking client (Selenium, urllib) can call it."""

    def __init__(
        self, settings: Callable[[FakeLLM | None], Settings], *, fake_llm: bool = False
    ) -> None:
        self.url = ""
        self._settings = settings
        self._fake_llm = fake_llm
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    def __enter__(self) -> ServedInThread:
        self._thread.start()
        assert self._ready.wait(30), "the server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    async def _serve(self) -> None:
        async with AsyncExitStack() as stack:
            fake = None
            if self._fake_llm:
                fake = await stack.enter_async_context(FakeLLM(flavour="lmstudio"))
            app = build_app(self._settings(fake), enforce_limits=False)
            await app.start()
            stack.push_async_callback(app.aclose)
            adapter = await stack.enter_async_context(serving(app))
            self.url = adapter.url
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()


@dataclass
class Server:
    app: App
    adapter: HttpAdapter
    fake: FakeLLM | None
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.adapter.url

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}", **extra}

    async def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {**(self.headers() if auth else {}), **kwargs.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        status, _, raw = await self.request("POST", path, json=body, **kwargs)
        return status, json.loads(raw)


# Fixtures are named apart from their functions, so a test module can import them and still
# take ``server`` as a parameter without shadowing the import.
@pytest.fixture(name="fake")
async def fake_fixture():
    async with FakeLLM(flavour="lmstudio") as server:
        yield server


@pytest.fixture(name="start")
async def start_fixture(isolated_env, tmp_path, make_app):
    """``await start(fake, **http_settings)`` → a running Server; all are stopped after the test."""
    stack: list[Any] = []

    async def starter(
        fake: FakeLLM | None,
        settings: Settings | None = None,
        *,
        enforce_limits: bool = False,
        **http: Any,
    ):
        app = await make_app(
            settings or make_settings(tmp_path, fake, **http), enforce_limits=enforce_limits
        )
        context = serving(app)
        adapter = await context.__aenter__()
        session = aiohttp.ClientSession()
        stack.append((context, session))
        return Server(app, adapter, fake, session)

    yield starter
    for context, session in reversed(stack):
        await session.close()
        await context.__aexit__(None, None, None)


@pytest.fixture(name="server")
async def server_fixture(start, fake) -> Server:
    return await start(fake)


def chat_body(content: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


def assert_openai_error(status: int, body: Any) -> dict[str, Any]:
    """OpenAI's error shape, exactly: {"error": {message, type, param, code}}."""
    assert 400 <= status < 600
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


def sse_events(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an event stream, in order."""
    return [
        block.removeprefix("data: ")
        for block in raw.decode().split("\n\n")
        if block.startswith("data: ")
    ]
