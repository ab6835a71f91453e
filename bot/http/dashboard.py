"""The dashboard at ``/dashboard``: a small page for the streamer and moderators, its static
files (served from this package: no CDN), and its own JSON API under ``/dashboard/api/``.

Access: with no ``http.api_key`` the guard keeps the server local and the page is open. With a
key, the page asks for it once and gives a session cookie (HttpOnly, SameSite=Strict); the
cookie is good for the dashboard's routes only, and every POST made with it carries the
session's CSRF token. A Bearer key works on the dashboard's API too (no cookie, no CSRF).
Every change is logged with who made it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import html
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from aiohttp import web
from cachetools import TTLCache

from bot.http.common import (
    SECURITY_HEADERS,
    ApiError,
    has_surrogates,
    json_response,
    read_body,
    read_json,
)
from bot.http.dashboard_texts import TEXTS
from bot.http.ops import stats_snapshot
from intelligence.sources import TIERS

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
COOKIE = "quipbot_dashboard"
SESSION_S = 12 * 3600
MAX_SESSIONS = 1000
HOUR_EVERY_S = 10.0  # one sample per 10 s for the hour chart...
HOUR_SAMPLES = 360
DAY_EVERY = 30  # ... and every 30th (5 min) for the day chart
DAY_SAMPLES = 288
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": PAGE_CSP,
    "Content-Type": "text/html; charset=utf-8",
}
ASSET_HEADERS = {**PAGE_HEADERS, "Cache-Control": "public, max-age=3600"}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
MAX_ROWS = 500
MAX_FIELD_CHARS = 500


def is_dashboard(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@dataclass(frozen=True, slots=True)
class Session:
    who: str  # written in the log next to every change
    csrf: str


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str


def _load_assets() -> dict[str, Asset]:
    """Every static file, read once and gzipped once: a phone on a slow link gets small files."""
    assets: dict[str, Asset] = {}
    root = resources.files("bot.http") / "static"
    for folder in (root, root / "vendor"):
        for item in folder.iterdir():
            if item.is_file() and not item.name.endswith(".html"):  # pages are templates
                name = item.name if folder == root else f"vendor/{item.name}"
                body = item.read_bytes()
                kind = mimetypes.guess_type(item.name)[0] or "text/plain"
                if kind.startswith("text/") or kind.endswith("javascript"):
                    kind += "; charset=utf-8"
                assets[name] = Asset(body, gzip.compress(body, 9, mtime=0), kind)
    return assets


def sample(app: App) -> list[float]:
    """One point of the charts: cumulative counters (the page draws their rates) and the LLM's
    latency percentiles now (the slowest backend's)."""
    stats = app.stats
    cached = sum(stats.sources[tier] for tier in TIERS)
    llm = [stats.latency_ms(name) for name in stats.latency_names() if name.startswith("llm:")]
    p50, p95, p99 = (
        (round(max(values), 1) for values in zip(*llm, strict=True)) if llm else (0,) * 3
    )
    return [
        round(time.time()),
        sum(stats.sources.values()),
        cached,
        sum(stats.llm_calls.values()),
        sum(stats.llm_errors.values()),
        stats.saved_tokens,
        sum(stats.blocked.values()),
        p50,
        p95,
        p99,
    ]


class Samples:
    """Bounded ring buffers: the last hour every 10 s, the last day every 5 min."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.hour: deque[list[float]] = deque(maxlen=HOUR_SAMPLES)
        self.day: deque[list[float]] = deque(maxlen=DAY_SAMPLES)
        self._taken = 0

    def take(self) -> None:
        point = sample(self.app)
        self.hour.append(point)
        if self._taken % DAY_EVERY == 0:
            self.day.append(point)
        self._taken += 1

    async def run(self, every_s: float) -> None:
        while True:
            self.take()
            await asyncio.sleep(every_s)

    def since(self, t: float) -> dict[str, list[list[float]]]:
        """The points newer than ``t``, read from the newest back: a live poll wants one."""
        return {
            name: list(reversed(list(itertools.takewhile(lambda p: p[0] > t, reversed(points)))))
            for name, points in (("hour", self.hour), ("day", self.day))
        }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DashboardRoutes:
    def __init__(self, app: App, *, sample_every_s: float = HOUR_EVERY_S) -> None:
        self.app = app
        self.samples = Samples(app)
        self._sample_every_s = sample_every_s
        key = app.settings.http.api_key.get_secret_value()
        self._key = hashlib.sha256(key.encode()).digest() if key else None
        self._sessions: TTLCache[str, Session] = TTLCache(MAX_SESSIONS, SESSION_S)
        # Keyless mode: the guard lets only local clients in; one session is everyone's.
        self._local = Session("local", secrets.token_urlsafe(32))
        language = app.settings.bot.language
        self.texts = TEXTS.get(language, TEXTS["en"])
        self._lang = language if language in TEXTS else "en"
        self._assets = _load_assets()
        self._page = (resources.files("bot.http") / "static" / "index.html").read_text()
        self._login = (resources.files("bot.http") / "static" / "login.html").read_text()

    def add_to(self, web_app: web.Application) -> None:
        web_app.cleanup_ctx.append(self._sampling)
        router = web_app.router
        router.add_get(PREFIX, self.page)
        router.add_post(f"{PREFIX}/login", self.login)
        router.add_post(f"{PREFIX}/api/logout", self.authed(self.logout))
        router.add_get(PREFIX + "/static/{name:.+}", self.asset)
        api = f"{PREFIX}/api"
        for path, handler in (
            ("stats", self.stats),
            ("logs", self.logs),
            ("blocked", self.blocked),
            ("jokes", self.jokes),
            ("learned", self.learned),
            ("banphrases", self.banphrases),
        ):
            router.add_get(f"{api}/{path}", self.authed(handler))
        for path, handler in (
            ("jokes/retire", self.retire),
            ("learned/forget", self.forget),
            ("banphrases/add", self.ban),
            ("banphrases/remove", self.unban),
            ("cache/clear", self.clear_cache),
        ):
            router.add_post(f"{api}/{path}", self.authed(handler))

    async def _sampling(self, _: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(self.samples.run(self._sample_every_s))
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # -- access ---------------------------------------------------------------------------

    def session(self, request: web.Request) -> Session | None:
        """Who is asking: the local session (no key), a Bearer client (the guard checked its
        key), a logged-in browser, or nobody."""
        if self._key is None:
            return self._local
        if "Authorization" in request.headers:
            return Session("api key", "")
        return self._sessions.get(request.cookies.get(COOKIE, ""))

    def authed(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            session = self.session(request)
            if session is None:
                raise ApiError(401, "log in at /dashboard first", code="invalid_session")
            if request.method == "POST" and session.csrf:
                given = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    raise ApiError(403, "missing or wrong X-CSRF-Token", code="csrf")
            return await handler(request)

        return checked

    def who(self, request: web.Request) -> str:
        """Who made a change (the request passed ``authed``), for the log."""
        session = self.session(request)
        return f"{session.who if session else '?'} ({request.remote})"

    async def login(self, request: web.Request) -> web.Response:
        # read_body, not request.post(): a slow body gets the same timeout as on every route.
        form = parse_qs((await read_body(request)).decode("utf-8", "replace"))
        key, name = form.get("key", [""])[0], form.get("name", [""])[0]
        given = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        if self._key is None or not hmac.compare_digest(given, self._key):
            log.warning("dashboard: a wrong key from %s", request.remote)
            return self._html(self._login, error=self.texts["login_wrong"], status=401)
        who = "".join(c for c in name if c.isprintable())[:40].strip() or "dashboard"
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(who, secrets.token_urlsafe(32))
        log.info("dashboard: %s logged in from %s", who, request.remote)
        response = web.Response(status=303, headers={**SECURITY_HEADERS, "Location": PREFIX})
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=SESSION_S,
            path=PREFIX,
            httponly=True,
            samesite="Strict",  # no Secure flag: quipbot itself serves plain http
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)
        log.info("dashboard: %s logged out", self.who(request))
        response = json_response({"ok": True})
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # -- the page and its files -----------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            return self._html(self._login, error="")
        return self._html(self._page, csrf=session.csrf)

    def _html(self, template: str, *, status: int = 200, **values: str) -> web.Response:
        texts = json.dumps(self.texts, ensure_ascii=False).replace("<", "\\u003c")
        fill = {**self.texts, **values, "lang": self._lang}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return texts if name == "texts" else html.escape(fill.get(name, ""))

        body = PLACEHOLDER.sub(value, template)
        return web.Response(text=body, status=status, headers=PAGE_HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        asset = self._assets.get(request.match_info["name"])
        if asset is None:
            raise ApiError(404, "no such file")
        headers = {**ASSET_HEADERS, "Content-Type": asset.content_type, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=asset.gzipped, headers={**headers, "Content-Encoding": "gzip"})
        return web.Response(body=asset.body, headers=headers)

    # -- what the page reads --------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        since = _number(request.query.get("since", "0"))
        return json_response(
            {
                "stats": stats_snapshot(self.app),
                "pool": self.app.jokes.pool_size(),
                **self.samples.since(since),
            }
        )

    async def logs(self, request: web.Request) -> web.Response:
        query = request.query
        platform, tier, text = (query.get(name, "") for name in ("platform", "tier", "q"))
        rows = await self.app.store.fetch(
            "SELECT at, platform, channel, user_id, command, prompt, answer, tier, latency_ms "
            "FROM chat_log WHERE (?1 = '' OR platform = ?1) AND (?2 = '' OR tier = ?2) "
            "AND (?3 = '' OR instr(lower(prompt || ' ' || answer), lower(?3)) > 0) "
            "ORDER BY id DESC LIMIT ?4",
            (platform, tier, text, _limit(request)),
        )
        return json_response([dict(row) for row in rows])

    async def blocked(self, request: web.Request) -> web.Response:
        rows = await self.app.store.fetch(
            "SELECT at, platform, channel, user_id, stage, layer, reason, text FROM blocked "
            "ORDER BY id DESC LIMIT ?",
            (_limit(request),),
        )
        return json_response([dict(row) for row in rows])

    async def jokes(self, request: web.Request) -> web.Response:
        store, language = self.app.store, self.app.settings.bot.language
        await store.flush()  # what was just served or voted counts
        rated = (
            "SELECT key, text, score, retired FROM jokes WHERE language = ? AND score {} 0 "
            "ORDER BY score {}, created_at DESC LIMIT 20"
        )
        top = await store.fetch(rated.format(">", "DESC"), (language,))
        worst = await store.fetch(rated.format("<", "ASC"), (language,))
        recent = await store.fetch(
            "SELECT s.at, s.channel, j.key, j.text, j.score, j.retired FROM jokes_served s "
            "JOIN jokes j ON j.key = s.joke_key ORDER BY s.rowid DESC LIMIT 30"
        )
        return json_response(
            {
                name: [dict(row) for row in rows]
                for name, rows in (("top", top), ("worst", worst), ("recent", recent))
            }
        )

    async def learned(self, request: web.Request) -> web.Response:
        text = request.query.get("q", "").lower()
        learned = self.app.learned
        rows = []
        for key in learned:
            entry = learned.get(key)
            if entry is not None and text in f"{entry.prompt} {entry.text}".lower():
                rows.append({"key": key, "prompt": entry.prompt, "answer": entry.text})
        return json_response(rows[:MAX_ROWS])

    async def banphrases(self, request: web.Request) -> web.Response:
        rows = await self.app.store.fetch(
            "SELECT phrase, added_by, added_at FROM banphrases ORDER BY added_at DESC"
        )
        return json_response([dict(row) for row in rows])

    # -- changes: each one logged with who made it ----------------------------------------

    async def retire(self, request: web.Request) -> web.Response:
        key = await _field(request, "key")
        text = await self.app.jokes.retire(key)
        if text is None:
            raise ApiError(404, "no such joke", code="not_found")
        log.info("dashboard: %s retired the joke %s (%r)", self.who(request), key, text)
        return json_response({"retired": key, "text": text})

    async def forget(self, request: web.Request) -> web.Response:
        key = await _field(request, "key")
        entry = await self.app.cache.forget(key)
        if entry is None:
            raise ApiError(404, "no such learned answer", code="not_found")
        log.info("dashboard: %s forgot the learned answer to %r", self.who(request), entry.prompt)
        return json_response({"forgot": key, "text": entry.prompt})

    async def ban(self, request: web.Request) -> web.Response:
        phrase = await _field(request, "phrase")
        try:
            added = await self.app.banlist.add(phrase, by=f"dashboard:{self.who(request)}")
        except ValueError as exc:
            raise ApiError(422, str(exc), code="list_full") from None
        if added:
            log.info("dashboard: %s banned %r", self.who(request), phrase)
        return json_response({"added": added, "text": phrase})

    async def unban(self, request: web.Request) -> web.Response:
        removed = await self.app.banlist.remove(await _field(request, "phrase"))
        if removed is None:
            raise ApiError(404, "not on the channel's list", code="not_found")
        log.info("dashboard: %s unbanned %r", self.who(request), removed)
        return json_response({"removed": True, "text": removed})

    async def clear_cache(self, request: web.Request) -> web.Response:
        count = await self.app.cache.clear()
        log.info("dashboard: %s cleared the cache (%d entries)", self.who(request), count)
        return json_response({"cleared": count})


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, "since must be a number (seconds since the epoch)") from None


def _limit(request: web.Request) -> int:
    value = request.query.get("limit", "100")
    if not value.isdigit() or not 1 <= int(value) <= MAX_ROWS:
        raise ApiError(400, f"limit must be 1-{MAX_ROWS}", param="limit")
    return int(value)


async def _field(request: web.Request, name: str) -> str:
    body = await read_json(request)
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip() or has_surrogates(value):
        raise ApiError(400, f'send {{"{name}": "a text"}}', param=name)
    return value[:MAX_FIELD_CHARS]
