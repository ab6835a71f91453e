"""Edges, with the default settings: how long a hung LLM makes viewers wait, and how long a
slowloris connection (half a request head) is held open.

Run: .venv/bin/python bench/edges_bench.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from fakes.llm import FakeLLM  # noqa: E402
from support.http import serving  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import Settings  # noqa: E402

VIEWER = frozenset({Role.VIEWER})


async def hung_llm() -> None:
    async with FakeLLM(flavour="lmstudio") as fake:
        fake.hang_next(seconds=600, times=100)
        settings = Settings(
            bot={"data_dir": tempfile.mkdtemp(), "language": "en"},
            llm={"provider": "lmstudio", "base_url": fake.base_url},
        )
        app = build_app(settings, enforce_limits=False)
        await app.start()
        waits = []
        for i in range(5):
            message = ChatMessage("twitch", "c", f"v{i}", f"v{i}", VIEWER, f"!ask question {i}")
            began = time.perf_counter()
            reply = await app.router.handle(message)
            assert reply is not None
            text = await reply.collect()
            waits.append(time.perf_counter() - began)
        await app.aclose()
    shown = ", ".join(f"{w:.2f} s" if w >= 0.1 else f"{w * 1000:.1f} ms" for w in waits)
    print(f"hung LLM, 5 viewers' !ask in turn: {shown} (LLM calls: {fake.calls}); said {text!r}")


async def slowloris() -> None:
    settings = Settings(
        bot={"data_dir": tempfile.mkdtemp()},
        http={"enabled": True, "port": 0, "api_key": "bench"},
    )
    app = build_app(settings)
    await app.start()
    async with serving(app) as adapter:
        began = time.perf_counter()
        connections = [await asyncio.open_connection("127.0.0.1", adapter.port) for _ in range(20)]
        for _, writer in connections:
            writer.write(b"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        closed = []
        for reader, writer in connections:
            await reader.read()
            closed.append(time.perf_counter() - began)
            writer.close()
    await app.aclose()
    print(
        f"slowloris: 20 half-sent requests closed after {min(closed):.1f}-{max(closed):.1f} s "
        f"(http.read_timeout_s = {settings.http.read_timeout_s:g})"
    )


async def main() -> None:
    await hung_llm()
    await slowloris()


if __name__ == "__main__":
    asyncio.run(main())
