"""Clients that hang up: the LLM call stops when nobody else waits for it, carries on when someone
does, and the log says it in one INFO line, never an ERROR with a traceback."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from fakes.llm import FakeLLM
from support.http import chat_body, start_fixture  # noqa: F401 (fixtures)

LONG = " ".join(f"word{i}" for i in range(60))  # 60 slow chunks: about 3 s


@pytest.fixture
async def slow_fake():
    async with FakeLLM(flavour="lmstudio", token_delay_s=0.05, reply=LONG) as fake:
        yield fake


async def until(condition, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def hang_up_after_first_event(server, path: str, body: dict) -> None:
    async with server.session.post(server.url + path, json=body, headers=server.headers()) as resp:
        assert resp.status == 200
        await resp.content.readline()
    # leaving the block with the body unread closes the connection


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat/completions", chat_body(stream=True)), ("/chat", {"prompt": "Tell me more"})],
)
async def test_a_stream_nobody_reads_stops_its_llm_call(start, slow_fake, path, body):
    server = await start(slow_fake)
    await hang_up_after_first_event(server, path, body)
    await until(lambda: len(server.app.flights) == 0)
    await until(lambda: slow_fake.in_flight == 0)
    assert server.app.cache.sizes()["l1"] == 0  # cut short: nothing to cache


async def test_a_stream_someone_else_reads_goes_on(start, slow_fake):
    server = await start(slow_fake)
    url, headers = server.url + "/v1/chat/completions", server.headers()
    reader = asyncio.create_task(
        server.session.post(url, json=chat_body(stream=True), headers=headers)
    )
    await until(lambda: len(server.app.flights) == 1)
    await hang_up_after_first_event(server, "/v1/chat/completions", chat_body(stream=True))
    async with await reader as resp:
        whole = await resp.read()
    assert b"word59" in whole and slow_fake.calls == 1
    await until(lambda: len(server.app.flights) == 0)
    assert server.app.cache.sizes()["l1"] == 1


async def test_a_client_that_hangs_up_is_one_info_line(start, slow_fake, caplog):
    caplog.set_level(logging.INFO)
    server = await start(slow_fake)
    url, headers = server.url + "/v1/chat/completions", server.headers()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):  # the client gives up before the answer
            await server.session.post(url, json=chat_body(), headers=headers)
    await hang_up_after_first_event(server, "/v1/chat/completions", chat_body("2", stream=True))
    await until(lambda: len(server.app.flights) == 0)
    await asyncio.sleep(0.1)  # let the server notice
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    went = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(went) >= 1 and all(r.levelno == logging.INFO for r in went)
    status, _, _ = await server.request("GET", "/health")
    assert status == 200


async def test_the_server_stays_up_after_many_hang_ups(start, slow_fake):
    server = await start(slow_fake)
    for i in range(10):
        await hang_up_after_first_event(server, "/chat", {"prompt": f"question {i}"})
    await until(lambda: len(server.app.flights) == 0)
    async with aiohttp.ClientSession() as session, session.get(server.url + "/health") as resp:
        assert resp.status == 200
