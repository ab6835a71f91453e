"""The HTTP adapter: an OpenAI-compatible cached endpoint, a streaming ``/chat``, health, stats,
Prometheus metrics and the dashboard, on ``http.host:http.port``.

Routes live in small modules (``openai``, ``chat``, ``commands``, ``ops``, ``dashboard``); this
one wires them behind the guard middleware (``guard``) and runs the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.contracts import AdapterUnavailable, Finding
from bot.http.chat import ChatRoute
from bot.http.commands import CommandRoutes
from bot.http.common import READ_TIMEOUT_S
from bot.http.dashboard import DashboardRoutes
from bot.http.guard import guard
from bot.http.metrics import HttpMetrics
from bot.http.openai import OpenAIRoutes
from bot.http.ops import OpsRoutes

if TYPE_CHECKING:
    from bot.app import App
    from config.settings import HttpSettings, Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 2.0
LINGER_S = 1.0  # after an early answer (408, 413), the rest of a body is read this long at most


class UnsafeBind(AdapterUnavailable):
    """No API key, and a host other than loopback: refuse to serve the bot to the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_problem(http: HttpSettings) -> str | None:
    if http.api_key.get_secret_value() or is_loopback(http.host):
        return None
    return (
        f"http.host is {http.host!r} but http.api_key is not set: without a key the HTTP API "
        "serves loopback only (127.0.0.1). Set http.api_key (QUIPBOT_HTTP__API_KEY) "
        "or http.host = 127.0.0.1"
    )


def build_web_app(app: App) -> web.Application:
    http = app.settings.http
    body_limit = http.max_body_kb * 1024
    metrics = HttpMetrics(app)
    web_app = web.Application(
        client_max_size=body_limit,
        middlewares=[guard(http, metrics.observe, body_limit=body_limit)],
    )
    web_app[READ_TIMEOUT_S] = http.read_timeout_s
    OpenAIRoutes(app).add_to(web_app.router)
    ChatRoute(app).add_to(web_app.router)
    CommandRoutes(app).add_to(web_app.router)
    OpsRoutes(app, metrics).add_to(web_app.router)
    DashboardRoutes(app).add_to(web_app)
    return web_app


async def check(settings: Settings) -> list[Finding]:
    http = settings.http
    problem = bind_problem(http)
    if problem is not None:
        return [Finding(False, "http", problem)]
    where = f"{http.host}:{http.port}"
    try:
        host = socket.getaddrinfo(http.host, http.port, type=socket.SOCK_STREAM)[0]
        with socket.socket(host[0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(host[4])
    except OSError as exc:
        return [Finding(False, "http", f"cannot listen on {where} ({exc.strerror or exc})")]
    auth = "Bearer key required" if http.api_key.get_secret_value() else "loopback only, no key"
    return [Finding(True, "http", f"{where} is free; {auth}")]


def closing_slow_heads(server: web.Server, timeout_s: float) -> Callable[[], RequestHandler]:
    """A protocol factory for ``server`` that closes a connection which has not sent a whole
    request head within ``timeout_s``. aiohttp's keep-alive timer only runs between requests,
    so a client that sends half a first request (a slowloris) would hold its connection open
    forever."""
    loop = asyncio.get_running_loop()

    def protocol() -> RequestHandler:
        handler = server()
        loop.call_later(timeout_s, _close_if_headless, handler)
        return handler

    return protocol


def _close_if_headless(handler: RequestHandler) -> None:
    # aiohttp counts a request once its head is parsed; it keeps no public count.
    if handler._request_count == 0 and handler.transport is not None:
        log.info("HTTP: closed a connection that sent no whole request head in time")
        handler.transport.close()


class HttpAdapter:
    name = "http"

    def __init__(self, app: App) -> None:
        self.app = app
        self.port: int | None = None  # the bound port, once serving (http.port may be 0)
        self.ready = asyncio.Event()
        self._status = "connecting"

    def status(self) -> str:
        return self._status

    @property
    def url(self) -> str:
        return f"http://{self.app.settings.http.host}:{self.port}"

    async def run(self) -> None:
        http = self.app.settings.http
        runner = web.AppRunner(
            build_web_app(self.app),
            access_log=None,  # one log line per request would cost more than the request
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_GRACE_S,
            keepalive_timeout=http.read_timeout_s,
            lingering_time=LINGER_S,
            # A client that hangs up cancels its handler: the answer it waited for unwinds, and
            # the LLM call stops when nobody else follows it (``Flight.leave``).
            handler_cancellation=True,
        )
        await runner.setup()
        assert runner.server is not None
        listening: asyncio.Server | None = None
        try:
            listening = await asyncio.get_running_loop().create_server(
                closing_slow_heads(runner.server, http.read_timeout_s),
                http.host,
                http.port,
                backlog=1024,
                reuse_address=True,
            )
            self.port = listening.sockets[0].getsockname()[1]
            self._status = "up"
            self.ready.set()
            auth = "a Bearer key" if http.api_key.get_secret_value() else "no key (loopback only)"
            log.info("HTTP API on %s, with %s", self.url, auth)
            await asyncio.Event().wait()  # serve until cancelled
        except OSError as exc:
            self._status = f"down: cannot listen on {http.host}:{http.port} ({exc.strerror})"
            raise
        finally:
            self.ready.clear()
            if self._status == "up":
                self._status = "down: stopped"
            if listening is not None:
                listening.close()
            await runner.cleanup()
