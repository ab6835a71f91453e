"""The dashboard: login, cookie flags, CSRF, each change it makes (and its log line), local-only
assets, and the figures it reads."""

from __future__ import annotations

import json
import logging
import re

import aiohttp
import pytest
from support.http import (  # noqa: F401 (fixtures)
    KEY,
    fake_fixture,
    server_fixture,
    start_fixture,
)

CSRF = re.compile(r'<meta name="csrf" content="([^"]+)">')
ASSET = re.compile(r'(?:src|href)="([^"#]+)"')  # links within the page are #views


class Browser:
    """A cookie-keeping client, as a browser would be (no Bearer key)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str, **kwargs) -> tuple[int, dict[str, str], str]:
        async with self.session.get(self.url + path, **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.text()

    async def post(self, path: str, body=None, *, csrf: str | None = None) -> tuple[int, dict]:
        token = self.csrf if csrf is None else csrf
        headers = {"X-CSRF-Token": token} if token else {}
        async with self.session.post(self.url + path, json=body or {}, headers=headers) as resp:
            return resp.status, await resp.json()

    async def login(self, key: str = KEY, name: str = "alice") -> aiohttp.ClientResponse:
        form = {"key": key, "name": name}
        async with self.session.post(
            self.url + "/dashboard/login", data=form, allow_redirects=False
        ) as resp:
            await resp.read()
        if resp.status == 303:
            self.csrf = await self.page_token()
        return resp

    async def page_token(self) -> str:
        status, _, page = await self.get("/dashboard")
        assert status == 200
        match = CSRF.search(page)
        return match.group(1) if match else ""


@pytest.fixture
async def browser(server):
    client = Browser(server.url)
    yield client
    await client.session.close()


async def test_without_a_session_the_page_is_a_login_form_and_the_api_refuses(server, browser):
    status, headers, page = await browser.get("/dashboard")
    assert status == 200 and 'name="key"' in page and "csrf" not in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, _ = await browser.get("/dashboard/static/dashboard.css")
    assert status == 200  # the login form needs its style
    status, _, body = await browser.get("/dashboard/api/stats")
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_session"


async def test_a_wrong_key_is_refused_and_logged(server, browser, caplog):
    with caplog.at_level(logging.WARNING, "bot.http.dashboard"):
        response = await browser.login("not-the-key")
    assert response.status == 401 and "set-cookie" not in response.headers
    assert "a wrong key" in caplog.text


async def test_login_gives_a_strict_http_only_cookie_for_the_dashboard_only(server, browser):
    response = await browser.login()
    assert response.status == 303 and response.headers["Location"] == "/dashboard"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # quipbot serves plain http
    assert browser.csrf
    status, _, _ = await browser.get("/dashboard/api/stats")
    assert status == 200
    # The cookie opens the dashboard's own routes only, never the rest of the API.
    jar_cookie = {"quipbot_dashboard": response.cookies["quipbot_dashboard"].value}
    async with aiohttp.ClientSession(cookies=jar_cookie) as other:
        async with other.get(server.url + "/api/stats") as resp:
            assert resp.status == 401
        async with other.get(server.url + "/dashboard/api/stats") as resp:
            assert resp.status == 200


async def test_every_post_needs_the_session_csrf_token(server, browser):
    await browser.login()
    assert (await browser.post("/dashboard/api/cache/clear", csrf=""))[0] == 403
    status, body = await browser.post("/dashboard/api/cache/clear", csrf="x" * 43)
    assert status == 403 and body["error"]["code"] == "csrf"
    assert (await browser.post("/dashboard/api/cache/clear"))[0] == 200


async def test_a_bearer_key_works_on_the_dashboard_api_without_csrf(server):
    status, body = await server.post_json("/dashboard/api/cache/clear", {})
    assert status == 200 and body == {"cleared": 0}
    status, _ = await server.post_json(
        "/dashboard/api/cache/clear", {}, headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401


async def test_logout_ends_the_session(server, browser):
    await browser.login()
    assert (await browser.post("/dashboard/api/logout"))[0] == 200
    status, _, _ = await browser.get("/dashboard/api/stats")
    assert status == 401


async def test_banphrases_are_added_listed_and_removed_with_who_did_it(server, browser, caplog):
    await browser.login(name="alice")
    with caplog.at_level(logging.INFO, "bot.http.dashboard"):
        status, body = await browser.post("/dashboard/api/banphrases/add", {"phrase": "pineapple"})
        assert status == 200 and body["added"] is True
        assert "pineapple" in server.app.banlist.custom.values()
        status, _, listed = await browser.get("/dashboard/api/banphrases")
        [row] = json.loads(listed)
        assert row["phrase"] == "pineapple" and row["added_by"].startswith("dashboard:alice")
        status, body = await browser.post(
            "/dashboard/api/banphrases/remove", {"phrase": "pineapple"}
        )
        assert status == 200 and not server.app.banlist.custom
        status, _ = await browser.post("/dashboard/api/banphrases/remove", {"phrase": "pineapple"})
        assert status == 404
    assert "alice (127.0.0.1) banned 'pineapple'" in caplog.text
    assert "alice (127.0.0.1) unbanned 'pineapple'" in caplog.text


async def test_a_learned_answer_is_listed_searched_and_forgotten(server, browser, caplog):
    for _ in range(3):  # asked three times: learned
        status, _, _ = await server.request("POST", "/chat", json={"prompt": "Capital of Peru?"})
        assert status == 200
    assert len(server.app.learned) == 1
    await browser.login()
    status, _, listed = await browser.get("/dashboard/api/learned?q=peru")
    [row] = json.loads(listed)
    assert row["prompt"] == "Capital of Peru?"
    assert json.loads((await browser.get("/dashboard/api/learned?q=chile"))[2]) == []
    with caplog.at_level(logging.INFO, "bot.http.dashboard"):
        status, body = await browser.post("/dashboard/api/learned/forget", {"key": row["key"]})
    assert status == 200 and body["text"] == "Capital of Peru?" and len(server.app.learned) == 0
    assert "alice (127.0.0.1) forgot the learned answer to 'Capital of Peru?'" in caplog.text
    assert (await browser.post("/dashboard/api/learned/forget", {"key": row["key"]}))[0] == 404


async def test_a_served_joke_is_listed_and_retired_for_good(server, browser, caplog):
    status, body = await server.post_json("/api/commands/joke", {})
    assert status == 200
    await browser.login()
    status, _, raw = await browser.get("/dashboard/api/jokes")
    [served] = json.loads(raw)["recent"]
    assert served["text"] in body["text"] and not served["retired"]
    with caplog.at_level(logging.INFO, "bot.http.dashboard"):
        status, done = await browser.post("/dashboard/api/jokes/retire", {"key": served["key"]})
    assert status == 200 and done["text"] == served["text"]
    assert server.app.jokes.archive.is_retired(served["key"])
    assert "retired the joke" in caplog.text
    [again] = json.loads((await browser.get("/dashboard/api/jokes"))[2])["recent"]
    assert again["retired"]
    assert (await browser.post("/dashboard/api/jokes/retire", {"key": "nope"}))[0] == 404


async def test_cache_clear_empties_the_cache_and_is_logged(server, browser, caplog):
    await server.request("POST", "/chat", json={"prompt": "Capital of Chile?"})
    assert server.app.cache.sizes()["l1"] >= 1
    await browser.login(name="bob")
    with caplog.at_level(logging.INFO, "bot.http.dashboard"):
        status, body = await browser.post("/dashboard/api/cache/clear")
    assert status == 200 and body["cleared"] >= 1 and server.app.cache.sizes()["l1"] == 0
    assert "bob (127.0.0.1) cleared the cache" in caplog.text


async def test_bad_change_requests_are_400s(server, browser):
    await browser.login()
    for body in ({}, {"phrase": ""}, {"phrase": 3}):
        assert (await browser.post("/dashboard/api/banphrases/add", body))[0] == 400
    assert (await browser.get("/dashboard/api/logs?limit=0"))[0] == 400


async def test_the_chat_log_and_blocked_messages_are_filterable(server, browser):
    await server.request("POST", "/chat", json={"prompt": "Capital of Spain?"})
    await server.request("POST", "/chat", json={"prompt": "Capital of Spain?"})
    await server.app.store.flush()
    await browser.login()
    rows = json.loads((await browser.get("/dashboard/api/logs?platform=http"))[2])
    assert [row["tier"] for row in rows] == ["l1", "llm"]
    assert {"latency_ms", "platform", "prompt", "answer"} <= set(rows[0])
    assert len(json.loads((await browser.get("/dashboard/api/logs?tier=llm"))[2])) == 1
    assert json.loads((await browser.get("/dashboard/api/logs?q=portugal"))[2]) == []
    assert json.loads((await browser.get("/dashboard/api/logs?platform=twitch"))[2]) == []
    assert json.loads((await browser.get("/dashboard/api/blocked"))[2]) == []


async def test_the_figures_are_the_api_stats_with_bounded_samples(server, browser):
    await server.request("POST", "/chat", json={"prompt": "Capital of Italy?"})
    await browser.login()
    _, _, raw = await browser.get("/dashboard/api/stats")
    figures = json.loads(raw)
    _, _, api = await server.request("GET", "/api/stats")
    expected = json.loads(api)
    for name in ("answers", "llm", "saved", "cache", "moderation"):
        assert figures["stats"][name] == expected[name]
    assert figures["pool"] == server.app.jokes.pool_size()
    assert len(figures["hour"]) == 1  # taken when the server started
    last = figures["hour"][-1][0]
    again = json.loads((await browser.get(f"/dashboard/api/stats?since={last}"))[2])
    assert again["hour"] == [] and again["day"] == []


async def test_the_page_loads_only_local_assets(server, browser):
    await browser.login()
    _, headers, page = await browser.get("/dashboard")
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    assets = ASSET.findall(page)
    assert assets and all(asset.startswith("/dashboard/static/") for asset in assets)
    for asset in assets:
        status, asset_headers, body = await browser.get(asset)
        assert status == 200 and asset_headers["Content-Encoding"] == "gzip"
        body = body.replace("/*! https://github.com/leeoniya/uPlot", "")  # uPlot's banner
        assert not re.search(r"https?://|//cdn|@import|url\(", body), asset
    assert (await browser.get("/dashboard/static/vendor/uPlot.LICENSE"))[0] == 200
    assert (await browser.get("/dashboard/static/index.html"))[0] == 404  # a template


async def test_the_page_speaks_the_bot_language(start, fake, tmp_path):
    from support.http import make_settings

    settings = make_settings(tmp_path, fake)
    settings.bot.language = "fr"
    server = await start(fake, settings)
    client = Browser(server.url)
    try:
        _, _, page = await client.get("/dashboard")
        assert '<html lang="fr">' in page and "Se connecter" in page
    finally:
        await client.session.close()


async def test_without_a_key_it_is_open_to_local_clients_only(start, fake):
    server = await start(fake, api_key="")
    client = Browser(server.url)
    try:
        client.csrf = await client.page_token()
        assert client.csrf  # still checked: a page elsewhere cannot read it
        assert (await client.post("/dashboard/api/cache/clear", csrf=""))[0] == 403
        assert (await client.post("/dashboard/api/cache/clear"))[0] == 200
        status, _, _ = await client.get("/dashboard", headers={"Host": "evil.example"})
        assert status == 403
    finally:
        await client.session.close()


async def test_a_login_name_cannot_forge_log_lines(server, browser, caplog):
    with caplog.at_level(logging.INFO, "bot.http.dashboard"):
        await browser.login(name="eve\nINFO dashboard: admin banned everything")
        await browser.post("/dashboard/api/cache/clear")
    assert all("\n" not in record.getMessage() for record in caplog.records)
    assert "eveINFO dashboard: admin" in caplog.text  # the newline dropped: one line
