"""Run the fake LLM server standalone: ``cd tests-local && python -m fakes.llm --port 8999``.
It prints the base URL on stdout and logs on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from fakes.llm.model import log
from fakes.llm.server import FakeLLM


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
