"""Figures of the dashboard (issue 14): its page weight, its time to first render in headless
Chromium, and the server cost of one live update next to the bare ``/health`` handler.

Run: .venv/bin/python bench/dashboard_bench.py [--loads 7]
The render needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
Selenium (a dev extra); without them that figure is skipped, and said so.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from aiohttp import ClientSession, web  # noqa: E402
from support.http import ServedInThread  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from config.settings import Settings  # noqa: E402

KEY = "bench-key-0123456789abcdef"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CALLS = 1000
ROUNDS = 7


def settings(api_key: str = KEY) -> Settings:
    return Settings(
        bot={"data_dir": tempfile.mkdtemp(prefix="quipbot-bench-"), "language": "en"},
        llm={"provider": "offline"},
        http={"enabled": True, "port": 0, "api_key": api_key, "rate_per_min": 0},
    )


# -- page weight ---------------------------------------------------------------------------


async def page_weight(url: str) -> tuple[int, int, int]:
    """Bytes of the page and every file it loads: uncompressed, gzipped (the files come
    gzipped from the server; the page is gzipped here at level 6, as a proxy would), files."""
    import re

    async with ClientSession(auto_decompress=False) as client:
        async with client.get(url + "/dashboard") as response:
            page = await response.read()
        assets = re.findall(rb'(?:src|href)="(/dashboard/static/[^"]+)"', page)
        raw, zipped = len(page), len(gzip.compress(page, 6))
        for asset in assets:
            identity = {"Accept-Encoding": "identity"}
            async with client.get(url + asset.decode(), headers=identity) as plain:
                raw += len(await plain.read())
            headers = {"Accept-Encoding": "gzip"}
            async with client.get(url + asset.decode(), headers=headers) as compressed:
                zipped += len(await compressed.read())
    return raw, zipped, len(assets)


# -- time to first render ------------------------------------------------------------------


def first_render_ms(url: str, loads: int) -> tuple[list[float], list[float]] | str:
    """Navigation start to first contentful paint (Performance API), cache cold then warm."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        return "skipped: apt-get install chromium chromium-driver"
    try:
        from selenium import webdriver
    except ImportError:
        return "skipped: selenium is not installed (pip install -e '.[dev]')"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)  # no Selenium Manager
    driver = webdriver.Chrome(service=service, options=options)
    script = (
        "const [p] = performance.getEntriesByName('first-contentful-paint');"
        "return p ? p.startTime : null"
    )
    cold, warm = [], []
    try:
        for _ in range(loads):
            for results, clear in ((cold, True), (warm, False)):
                if clear:
                    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
                driver.get("about:blank")
                driver.get(url + "/dashboard")
                paint = None
                deadline = time.monotonic() + 10
                while paint is None and time.monotonic() < deadline:
                    paint = driver.execute_script(script)
                results.append(float(paint or "nan"))
    finally:
        driver.quit()
    return cold, warm


# -- server cost of one live update --------------------------------------------------------


def update_costs() -> list[tuple[str, float]]:
    """µs per request through the guard middleware and the routed handler, in-process (no
    socket), best of interleaved rounds: a stats poll as the page makes it, the first poll
    (full hour and day series), /api/stats, and /health for reference."""
    from aiohttp.test_utils import make_mocked_request

    from bot.http.dashboard import DAY_EVERY, DAY_SAMPLES, DashboardRoutes
    from bot.http.guard import guard
    from bot.http.metrics import HttpMetrics
    from bot.http.ops import OpsRoutes

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings())
    loop.run_until_complete(app.start())
    busy(app)
    web_app = web.Application(middlewares=[guard(app.settings.http, lambda *_: None, body_limit=1)])
    routes = DashboardRoutes(app)
    routes.add_to(web_app)
    OpsRoutes(app, HttpMetrics(app)).add_to(web_app.router)
    for _ in range(DAY_SAMPLES * DAY_EVERY):  # both ring buffers full
        routes.samples.take()

    def calls(path: str) -> Callable[[int], Coroutine[Any, Any, None]]:
        headers = {"Authorization": f"Bearer {KEY}", "Host": "127.0.0.1"}
        request = make_mocked_request("GET", path, headers=headers, app=web_app)
        request._match_info = loop.run_until_complete(web_app.router.resolve(request))
        middleware = web_app.middlewares[0]

        async def run(n: int) -> None:
            for _ in range(n):
                await middleware(request, request.match_info.handler)

        return run

    paths = {
        "GET /health (reference: the bare health handler)": "/health",
        "GET /dashboard/api/stats?since=<last> (a live update)": (
            f"/dashboard/api/stats?since={routes.samples.hour[-1][0]}"
        ),
        "GET /dashboard/api/stats (first load: full series)": "/dashboard/api/stats",
        "GET /api/stats (the same figures, no series)": "/api/stats",
    }
    runs = {name: calls(path) for name, path in paths.items()}
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):  # interleaved: a noisy neighbour hits every route alike
        for name, run in runs.items():
            started = time.perf_counter()
            loop.run_until_complete(run(CALLS))
            best[name] = min(best[name], (time.perf_counter() - started) / CALLS * 1e6)
    costs = list(best.items())
    loop.run_until_complete(app.aclose())
    loop.close()
    return costs


def busy(app: App) -> None:
    """Figures as after a busy stream: every counter and latency window in use."""
    stats = app.stats
    for i in range(2000):
        source = ("l1", "l2", "fuzzy", "llm", "fallback")[i % 5]
        stats.record_command(("ask", "joke")[i % 2], 0.001 * (i % 50), source)
        stats.record_tier("l1", hit=source == "l1")
        if source == "llm":
            stats.record_llm_call("primary:mistral", 200, 40, 0.4 + (i % 7) / 10)
        else:
            stats.record_saved(240)
    for stage, layer in (("input", "banphrase"), ("answer", "model"), ("joke", "banphrase")):
        stats.record_block(stage, layer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=7, help="page loads per cache state")
    args = parser.parse_args()
    with ServedInThread(lambda _: settings(api_key="")) as server:
        raw, zipped, files = asyncio.run(page_weight(server.url))
        print(
            f"page weight: {raw:,} bytes uncompressed, {zipped:,} bytes gzipped "
            f"(the page and its {files} files, uPlot included)"
        )
        render = first_render_ms(server.url, args.loads)
    if isinstance(render, str):
        print(f"first render: {render}")
    else:
        cold, warm = render
        print(
            f"first render (navigation start to first contentful paint, headless Chromium, "
            f"{args.loads} loads): cold cache median {statistics.median(cold):.0f} ms "
            f"(max {max(cold):.0f}), warm cache median {statistics.median(warm):.0f} ms"
        )
    print(f"server cost per request, in-process through the guard (best of {ROUNDS} rounds):")
    for name, micros in update_costs():
        print(f"  {name:<56} {micros:7.1f} µs")


if __name__ == "__main__":
    main()
