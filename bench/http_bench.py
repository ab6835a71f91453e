"""Figures of the HTTP API (issue 7): cached ``POST /v1/chat/completions`` at 16 connections,
plain and streamed, with the load from a second process on loopback; then what each per-request
cost is, piece by piece.

Run: .venv/bin/python bench/http_bench.py [--seconds 10] [--rounds 3]
The load comes from wrk when installed (``apt-get install wrk``), else from a Python load
generator in a subprocess (slower than the server: its figures are a floor). The server runs in
its own process, with auth and the rate limiter on (a limit it never reaches), as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from aiohttp import web  # noqa: E402

KEY = "bench-key-0123456789abcdef"
MODEL = "local-model"
QUESTION = "What is the capital of France?"
CONNECTIONS = 16
TARGETS = {"plain": (5000, 10.0), "stream": (3000, None)}  # req/s, p99 ms


def request_body(stream: bool) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
    return json.dumps(body).encode()


# -- the server process --------------------------------------------------------------------


async def serve(port_file: Path) -> None:
    from fakes.llm import FakeLLM

    from bot.app import build_app
    from bot.http import create
    from config.settings import Settings

    async with FakeLLM(flavour="lmstudio") as fake:
        settings = Settings(
            bot={"data_dir": tempfile.mkdtemp(prefix="quipbot-bench-"), "language": "en"},
            llm={"provider": "lmstudio", "base_url": fake.base_url},
            http={"enabled": True, "port": 0, "api_key": KEY, "rate_per_min": 100_000_000},
        )
        app = build_app(settings)
        await app.start()
        adapter = create(app)
        app.adapters["http"] = adapter
        server = asyncio.create_task(adapter.run())
        await adapter.ready.wait()
        bare = await _bare_server()  # the same machine's ceiling, for comparison
        port_file.write_text(f"{adapter.port} {bare}")
        try:
            await server
        finally:
            await app.aclose()


async def _bare_server() -> int:
    """A minimal aiohttp POST handler: read, parse, answer. The floor of any aiohttp API."""

    async def handler(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    bare = web.Application()
    bare.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(bare, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner.addresses[0][1]


# -- load generators (a second process) ----------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def wrk(url: str, body: bytes, seconds: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(body.decode()), key=KEY))
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s"]
    out = subprocess.run(
        [*command, script.name, url], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, _wrk_ms(out, "50%"), _wrk_ms(out, "99%")


def _wrk_ms(out: str, label: str) -> float:
    found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
    assert found is not None, out
    value, unit = found.groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


async def _python_load(url: str, body: bytes, seconds: float) -> None:
    """Run in a subprocess (``--load``): 16 keep-alive connections for ``seconds``; prints
    req/s, p50 ms and p99 ms."""
    import aiohttp

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    latencies: list[float] = []

    async def worker(session: aiohttp.ClientSession, stop: float) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session, began + seconds) for _ in range(CONNECTIONS)))
        took = time.perf_counter() - began
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(len(latencies) / took, p50 * 1e3, p99 * 1e3)


def python_load(url: str, body: bytes, seconds: int) -> tuple[float, float, float]:
    command = [sys.executable, __file__, "--load", url, body.decode(), str(seconds)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate, p50, p99 = (float(x) for x in out.split())
    return rate, p50, p99


# -- per-request costs, in this process ----------------------------------------------------


def per_request_costs() -> list[tuple[str, float]]:
    """Each piece of the cached hot path, timed alone: µs per call, best of 3."""
    import hmac

    from aiohttp.test_utils import make_mocked_request
    from cachetools import LRUCache

    from bot.app import build_app
    from bot.http.guard import RateLimiter, _digest, guard
    from bot.http.metrics import HttpMetrics
    from bot.http.openai_parse import Limits, parse_completion
    from bot.http.openai_shapes import CompletionShapes
    from config.settings import Settings
    from intelligence.entries import Entry, entry_key
    from intelligence.llm import Usage
    from intelligence.store import LogRow

    settings = Settings(
        bot={"data_dir": tempfile.mkdtemp(prefix="quipbot-bench-")},
        llm={"provider": "lmstudio"},
        http={"api_key": KEY, "rate_per_min": 100_000_000},
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings)
    loop.run_until_complete(app.start())
    raw = request_body(False)
    limits = Limits(MODEL, 100, 32_000, 300)
    parsed = parse_completion(json.loads(raw), limits)
    plan = app.completions.caching(parsed.request)
    entry = Entry("Answer to: " + QUESTION, QUESTION, 3600, 12, 11)
    loop.run_until_complete(app.cache.put(plan.scope, plan.prompt, entry))
    expected = _digest(f"Bearer {KEY}")
    limiter = RateLimiter(100_000_000, 60)
    usage = Usage(12, 11)

    def new_shapes() -> CompletionShapes:
        return CompletionShapes(MODEL, max_tokens=300, include_usage=True)

    shapes = new_shapes()
    row = LogRow("http", "v1", "anonymous", "completions", QUESTION, entry.text, "l1", 0.3)
    request = make_mocked_request(
        "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}
    )
    metrics = HttpMetrics(app)
    routed = web_app_request(app)
    middleware = guard(settings.http, lambda *_: None, body_limit=262_144)
    ok = web.Response(body=b"{}")

    async def handler(_request: web.Request) -> web.Response:
        return ok

    def sync(fn, n: int = 20_000) -> float:
        return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6

    def run(make, n: int = 20_000) -> float:
        """``make(n)`` is a coroutine doing n calls; its time per call."""
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            loop.run_until_complete(make(n))
            best = min(best, time.perf_counter() - started)
        return best / n * 1e6

    async def guarded(n: int) -> None:
        for _ in range(n):
            await middleware(request, handler)

    async def bare(n: int) -> None:
        for _ in range(n):
            await handler(request)

    async def cache_hits(n: int) -> None:
        for _ in range(n):
            await app.cache.get(plan.scope, plan.prompt, fuzzy=True)

    async def service_hits(n: int) -> None:
        for _ in range(n):
            await app.completions.complete(parsed.request)

    async def log_rows(n: int) -> None:  # queued, then committed by the store's writer
        for _ in range(n):
            app.store.log_chat(row)
        await app.store.flush()

    loop.run_until_complete(log_rows(10))  # open and migrate the database first
    json_parse = sync(lambda: json.loads(raw))
    memo = LRUCache(1024)
    memo[raw] = parsed
    costs = [
        ("JSON parse of the body (json.loads), per new body", json_parse),
        (
            "request validation (parse_completion), per new body",
            sync(lambda: parse_completion(json.loads(raw), limits)) - json_parse,
        ),
        ("memo of validated bodies, per repeated body (LRU hit)", sync(lambda: memo.get(raw))),
        (
            "cache key (Scope namespace + exact_form + blake2b)",
            sync(lambda: entry_key(plan.scope, plan.prompt)),
        ),
        ("L1 lookup with its key and tier stats (cache.get)", run(cache_hits)),
        ("the whole service call on a hit (complete)", run(service_hits)),
        (
            "stats (record_command + record_saved)",
            sync(lambda: (app.stats.record_command("c", 0.001, "l1"), app.stats.record_saved(23))),
        ),
        (
            "auth (sha256 + compare_digest)",
            sync(lambda: hmac.compare_digest(_digest(f"Bearer {KEY}"), expected)),
        ),
        ("rate limiter (token bucket)", sync(lambda: limiter.wait_s("127.0.0.1|"))),
        ("guard middleware in all (minus a bare await)", run(guarded) - run(bare)),
        (
            "request histogram (HttpMetrics.observe)",
            sync(lambda: metrics.observe(routed, 200, 0.001)),
        ),
        ("response shapes (new id, time, model)", sync(lambda: new_shapes())),
        (
            "plain body (template + json.dumps of the text)",
            sync(lambda: shapes.completion(entry.text, usage)),
        ),
        (
            "stream body (role, content, finish, usage chunks)",
            sync(lambda: shapes.replay(entry.text, usage)),
        ),
        ("chat log row, Store.log_chat until committed (batched)", run(log_rows, 5000)),
    ]
    loop.run_until_complete(app.aclose())
    loop.close()
    return costs


def web_app_request(app) -> web.Request:
    """A request already routed to /v1/chat/completions, as the middleware sees it."""
    from aiohttp.test_utils import make_mocked_request

    from bot.http.server import build_web_app

    web_app = build_web_app(app)
    request = make_mocked_request("POST", "/v1/chat/completions", app=web_app)
    match = asyncio.get_event_loop().run_until_complete(web_app.router.resolve(request))
    request._match_info = match
    return request


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, metavar=("URL", "BODY", "S"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve)))
        return
    if args.load:
        url, body, seconds = args.load
        asyncio.run(_python_load(url, body.encode(), float(seconds)))
        return

    load = wrk if shutil.which("wrk") else python_load
    generator = (
        "wrk" if load is wrk else "a Python load generator (a floor: slower than the server)"
    )
    print(
        f"quipbot HTTP bench: {CONNECTIONS} connections, {args.seconds} s a run; load from "
        f"{generator} in one process, the server in another; {os.cpu_count()} cores"
    )
    port_file = Path(tempfile.mkdtemp()) / "port"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the bench server did not start")
            time.sleep(0.1)
        port, bare_port = port_file.read_text().split()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        _warm(url)
        bare_url = f"http://127.0.0.1:{bare_port}/v1/chat/completions"
        runs = {
            "bare aiohttp handler (the ceiling)": (bare_url, False, None),
            "cached /v1/chat/completions, plain": (url, False, TARGETS["plain"]),
            "cached /v1/chat/completions, stream": (url, True, TARGETS["stream"]),
        }
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
        for target_url, stream, _ in runs.values():
            load(target_url, request_body(stream), 2)  # warm-up
        for _ in range(args.rounds):  # interleaved: a noisy neighbour hits every run alike
            for name, (target_url, stream, _) in runs.items():
                figures[name].append(load(target_url, request_body(stream), args.seconds))
        rows = [
            (name, sorted(figures[name])[len(figures[name]) // 2], target, figures[name])
            for name, (_, _, target) in runs.items()
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"\nmedian of {args.rounds} rounds (req/s of every round in brackets)")
    print(f"{'run':<40} {'req/s':>8} {'p50':>9} {'p99':>9}   target")
    for name, (rate, p50, p99), target, all_runs in rows:
        goal = ""
        if target is not None:
            want_rate, want_p99 = target
            met = rate >= want_rate and (want_p99 is None or p99 <= want_p99)
            goal = f"≥ {want_rate} req/s" + (f", p99 ≤ {want_p99:g} ms" if want_p99 else "")
            goal += "  ok" if met else "  MISSED"
        every = ", ".join(f"{r:.0f}" for r, _, _ in all_runs)
        print(f"{name:<40} {rate:>8.0f} {p50:>6.2f} ms {p99:>6.2f} ms   {goal}  [{every}]")
    bare_us, plain_us = (1e6 / rows[i][1][0] for i in (0, 1))
    print(
        f"\nserver time per request: bare {bare_us:.0f} µs, quipbot plain {plain_us:.0f} µs, "
        f"so quipbot's own work is about {plain_us - bare_us:.0f} µs"
    )
    print("\nper-request costs on the cached path, each timed alone:")
    for name, micros in per_request_costs():
        print(f"  {name:<54} {micros:7.2f} µs")


def _warm(url: str) -> None:
    """The first request goes to the (fake) LLM; every one after is a cache hit."""
    import urllib.request

    request = urllib.request.Request(
        url,
        data=request_body(False),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.headers["X-Quipbot-Cache"] == "llm", resp.headers["X-Quipbot-Cache"]


if __name__ == "__main__":
    main()
