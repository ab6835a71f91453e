"""Slow clients (slowloris): a connection that sends half a request head, a body that trickles,
or a connection left idle is closed after ``http.read_timeout_s``; other clients are served."""

from __future__ import annotations

import asyncio
import logging

from support.http import KEY, fake_fixture, start_fixture  # noqa: F401 (fixtures)

TIMEOUT_S = 0.3
HEAD = f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"


async def connect(server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.adapter.port)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection (the test fails if it never does)."""
    return await asyncio.wait_for(reader.read(), timeout=30)


async def test_half_a_head_is_closed_and_logged_once(start, fake, caplog):
    server = await start(fake, read_timeout_s=TIMEOUT_S)
    caplog.set_level(logging.INFO, logger="bot.http")
    connections = [await connect(server) for _ in range(20)]
    for _, writer in connections:
        writer.write(HEAD.encode())  # no blank line: the head never ends
        await writer.drain()
    for reader, writer in connections:
        assert await closed_by_server(reader) == b""
        writer.close()
    closed = [r for r in caplog.records if "no whole request head" in r.getMessage()]
    assert len(closed) == 20 and all(r.levelno == logging.INFO and not r.exc_info for r in closed)
    status, _, _ = await server.request("GET", "/health")  # the server still serves
    assert status == 200


async def test_a_trickling_body_gets_408_and_the_connection_closes(start, fake):
    server = await start(fake, read_timeout_s=TIMEOUT_S)
    reader, writer = await connect(server)
    writer.write(f"{HEAD}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{".encode())
    await writer.drain()
    answer = await closed_by_server(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"took more than 0.3 s" in answer
    assert fake.calls == 0


async def test_an_idle_connection_closes_after_its_request(start, fake):
    server = await start(fake, read_timeout_s=TIMEOUT_S)
    reader, writer = await connect(server)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    answer = await closed_by_server(reader)  # answered, then closed when idle
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")


async def test_a_client_that_sends_in_time_is_served(start, fake):
    server = await start(fake, read_timeout_s=5)
    reader, writer = await connect(server)
    body = b'{"prompt": "hello"}'
    writer.write(f"{HEAD}Content-Length: {len(body)}\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.05)  # the body comes a little later, as over a slow link
    writer.write(body)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 200")
