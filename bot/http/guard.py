"""The one middleware in front of every route: auth, local-only mode, rate limits, error shapes
and security headers. One layer rather than several: each aiohttp middleware costs a call per
request."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from cachetools import LRUCache

from bot.http.common import SECURITY_HEADERS, ApiError
from bot.http.dashboard import is_dashboard
from config.settings import HttpSettings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Observer = Callable[[web.Request, int, float], None]
OPEN_PATHS = frozenset({"/health"})  # liveness for load balancers: no key needed
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


MAX_CLIENTS = 10_000  # clients whose token bucket is kept (least recently seen go first)


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_min``."""

    def __init__(
        self,
        per_min: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_min / 60
        self.burst = float(max(1, burst))
        self._clock = clock
        self._buckets: LRUCache[str, list[float]] = LRUCache(MAX_CLIENTS)  # [tokens, updated]

    def wait_s(self, client: str) -> float:
        """Take a token: 0 when the request may go on, else the seconds until one is free."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            self._buckets[client] = [self.burst - 1, now]
            return 0.0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1:
            bucket[0] = tokens - 1
            return 0.0
        bucket[0] = tokens
        return (1 - tokens) / self.rate


def _digest(value: str) -> bytes:
    # Comparing digests takes the same time whatever the length of the guess.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _host_name(value: str) -> str:
    """``[::1]:8080`` → ``::1``, ``localhost:8080`` → ``localhost``."""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def _is_local_origin(origin: str) -> bool:
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and _host_name(rest).lower() in LOOPBACK_HOSTS


def guard(settings: HttpSettings, observe: Observer, *, body_limit: int) -> Middleware:
    key = settings.api_key.get_secret_value()
    expected = _digest(f"Bearer {key}") if key else None
    limiter = RateLimiter(settings.rate_per_min, settings.rate_burst)

    def check_access(request: web.Request) -> None:
        client = request.remote or "?"
        if expected is None:
            _local_only(request)
        elif request.path not in OPEN_PATHS and not _dashboard_without_key(request):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(_digest(given), expected):
                _limit(limiter, client)  # guessing keys is rate limited too
                raise ApiError(
                    401,
                    "missing or wrong API key: send Authorization: Bearer <http.api_key>",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        # One budget per client: its end users (X-Quipbot-User) share it, they never multiply it.
        _limit(limiter, client)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            check_access(request)
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:  # aiohttp's own: no route, wrong method, body too big
            response = _from_http_exception(request, exc, body_limit).response()
        except asyncio.CancelledError:
            if request.transport is None or request.transport.is_closing():
                log.info("HTTP %s %s: the client went away", request.method, request.path)
            raise
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            response = ApiError(500, "internal error; the server log has the details").response()
        # json_response and streams set them already; a stream has sent its headers.
        if not response.prepared and "X-Frame-Options" not in response.headers:
            response.headers.update(SECURITY_HEADERS)
        observe(request, response.status, time.perf_counter() - started)
        return response

    return middleware


def _dashboard_without_key(request: web.Request) -> bool:
    """The dashboard's page and files are open, and its API takes a session cookie instead of
    the key: the dashboard checks those itself. A Bearer key sent there is still checked here."""
    return is_dashboard(request.path) and "Authorization" not in request.headers


def _limit(limiter: RateLimiter, client: str) -> None:
    wait = limiter.wait_s(client)
    if wait > 0:
        raise ApiError(
            429,
            f"rate limit reached for this client; retry in {math.ceil(wait)} s",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(math.ceil(wait))},
        )


def _local_only(request: web.Request) -> None:
    """Without an API key the server listens on loopback only. A web page the operator visits
    could still reach it (DNS rebinding, a cross-site form post): refuse any request whose Host
    or Origin is not local."""
    host = _host_name(request.host).lower()
    origin = request.headers.get("Origin")
    if host not in LOOPBACK_HOSTS or (origin is not None and not _is_local_origin(origin)):
        raise ApiError(
            403,
            "without http.api_key this server only answers local clients "
            "(Host and Origin must be localhost); set http.api_key to serve others",
            code="local_only",
        )


def _from_http_exception(request: web.Request, exc: web.HTTPException, body_limit: int) -> ApiError:
    status = exc.status
    if status == 404:
        return ApiError(404, f"no such route: {request.method} {request.path[:200]}")
    if status == 405:
        return ApiError(405, f"{request.method} is not allowed on {request.path[:200]}")
    if status == 413:
        return ApiError(
            413, f"the request body is over {body_limit} bytes", code="request_too_large"
        )
    return ApiError(status, exc.reason or "bad request")
