"""Twitch tokens: `quipbot twitch-auth` (twitchio's web adapter on localhost, against
FakeTwitch's /oauth2/authorize), the 0600 token file, and what `quipbot check` says."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import twitchio.http
from fakes.twitch import FakeTwitch

from bot.check import run_checks
from bot.cli import main
from bot.contracts import Finding
from bot.twitch.auth import run_twitch_auth
from bot.twitch.check import check as check_twitch
from bot.twitch.tokens import StoredToken, TokenFileError, TokenStore
from config.settings import Settings

OWNER, BOT, VIEWER = "100", "200", "300"
WAIT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake(isolated_env: None) -> AsyncIterator[FakeTwitch]:
    async with FakeTwitch() as fake:
        fake.add_user(OWNER, "owner", "Owner")
        fake.add_user(BOT, "quipbot", "QuipBot")
        fake.add_user(VIEWER, "viewer", "Viewer")
        with fake.patch_twitchio():
            yield fake


def settings_for(fake: FakeTwitch, tmp_path: Path, **twitch: object) -> Settings:
    values: dict[str, object] = {
        "enabled": True,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "bot_id": BOT,
        "owner_id": OWNER,
        "channels": ["owner"],
    }
    values.update(twitch)
    return Settings(bot={"data_dir": tmp_path / "data"}, twitch=values)


def store_of(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "data" / "twitch_tokens.json")


# ------------------------------------------------------------------------------ twitch-auth


class AuthRun:
    """`quipbot twitch-auth` running in the background, and a browser to answer its links."""

    def __init__(self, fake: FakeTwitch, settings: Settings) -> None:
        self.fake = fake
        self.port = free_port()
        self.out = io.StringIO()
        fake.redirect_uris.add(f"http://localhost:{self.port}/oauth/callback")
        self.task = asyncio.create_task(run_twitch_auth(settings, port=self.port, out=self.out))

    async def links(self, count: int) -> list[str]:
        async with asyncio.timeout(WAIT):
            while len(found := re.findall(r"^   (http\S+)$", self.out.getvalue(), re.M)) < count:
                await asyncio.sleep(0.01)
        return found

    async def open_as(self, user_id: str | None, url: str) -> tuple[int, str]:
        """The user logged in on Twitch opens the link; returns what the browser shows."""
        self.fake.logged_in_user = user_id
        async with aiohttp.ClientSession() as browser, browser.get(url) as page:
            return page.status, await page.text()


@pytest.fixture
def auth_runs() -> Iterator[list[AuthRun]]:
    runs: list[AuthRun] = []
    yield runs
    for run in runs:
        run.task.cancel()


async def test_twitch_auth_guides_both_grants_and_stores_them_0600(
    fake: FakeTwitch, tmp_path: Path, auth_runs: list[AuthRun]
) -> None:
    run = AuthRun(fake, settings_for(fake, tmp_path))
    auth_runs.append(run)
    bot_link, broadcaster_link = await run.links(2)

    assert bot_link.startswith(f"{fake.base_url}/oauth2/authorize?")
    query = parse_qs(urlsplit(bot_link).query)
    assert query["client_id"] == ["fake-client-id"]
    assert query["redirect_uri"] == [f"http://localhost:{run.port}/oauth/callback"]
    assert query["force_verify"] == ["true"]
    assert set(query["scope"][0].split()) == {"user:read:chat", "user:write:chat", "user:bot"}
    assert parse_qs(urlsplit(broadcaster_link).query)["scope"] == ["channel:bot"]
    status, page = await run.open_as(BOT, bot_link)
    assert status == 200
    assert page == (
        "✔ the bot account: quipbot (id 200) granted "
        + " ".join(sorted(["user:read:chat", "user:write:chat", "user:bot"], key=page.find))
    )
    assert not run.task.done()
    status, page = await run.open_as(OWNER, broadcaster_link)
    assert (status, page) == (200, "✔ the broadcaster: owner (id 100) granted channel:bot")

    assert await asyncio.wait_for(run.task, WAIT) == 0
    out = run.out.getvalue()
    assert f"http://localhost:{run.port}/oauth/callback" in out  # to register in the app
    assert "Tokens saved in" in out
    store = store_of(tmp_path)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    tokens = store.load()
    assert set(tokens) == {BOT, OWNER}
    assert set(tokens[BOT].scopes) == {"user:read:chat", "user:write:chat", "user:bot"}
    assert tokens[OWNER].scopes == ["channel:bot"] and tokens[OWNER].login == "owner"
    for token in tokens.values():  # real tokens, which Twitch knows
        assert fake.tokens[token.access_token].user_id == token.user_id
    assert not (tmp_path / ".tio.tokens.json").exists()


async def test_twitch_auth_refuses_forged_links_wrong_accounts_and_cancels(
    fake: FakeTwitch, tmp_path: Path, auth_runs: list[AuthRun]
) -> None:
    run = AuthRun(fake, settings_for(fake, tmp_path))
    auth_runs.append(run)
    bot_link, _ = await run.links(2)
    callback = f"http://localhost:{run.port}/oauth/callback"

    status, page = await run.open_as(BOT, f"{callback}?code=stolen&state=forged")
    assert status == 400 and "Unknown link" in page
    status, page = await run.open_as(VIEWER, bot_link)  # logged in as the wrong account
    assert page.startswith("✘ viewer (id 300) answered the link for the bot account")
    fake.deny_authorization = True
    status, page = await run.open_as(BOT, bot_link)
    assert (status, page) == (400, "Twitch said: The user denied you access. Open the link again.")
    assert not run.task.done()  # still waiting for the right grants
    assert BOT not in store_of(tmp_path).load()


async def test_twitch_auth_prints_the_ids_to_configure(
    fake: FakeTwitch, tmp_path: Path, auth_runs: list[AuthRun]
) -> None:
    run = AuthRun(fake, settings_for(fake, tmp_path, bot_id="", owner_id=""))
    auth_runs.append(run)
    bot_link, broadcaster_link = await run.links(2)
    await run.open_as(BOT, bot_link)
    await run.open_as(OWNER, broadcaster_link)

    assert await asyncio.wait_for(run.task, WAIT) == 0
    assert 'Set twitch.bot_id = "200" in your config' in run.out.getvalue()
    assert 'Set twitch.owner_id = "100" in your config' in run.out.getvalue()


async def test_twitch_auth_for_a_streamer_who_is_their_own_bot(
    fake: FakeTwitch, tmp_path: Path, auth_runs: list[AuthRun]
) -> None:
    run = AuthRun(fake, settings_for(fake, tmp_path, bot_id=OWNER))
    auth_runs.append(run)
    [link] = await run.links(1)
    status, _ = await run.open_as(OWNER, link)

    assert status == 200 and await asyncio.wait_for(run.task, WAIT) == 0
    assert "channel:bot" in store_of(tmp_path).load()[OWNER].scopes


def test_twitch_auth_without_app_credentials_says_where_to_get_them(
    isolated_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["twitch-auth", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "twitch-auth needs twitch.client_id and twitch.client_secret" in err
    assert "https://dev.twitch.tv/console/apps" in err


async def test_twitch_auth_on_a_busy_port_says_what_to_do(
    fake: FakeTwitch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    server = await asyncio.start_server(lambda r, w: None, "localhost", port)
    try:
        code = await run_twitch_auth(settings_for(fake, tmp_path), port=port)
    finally:
        server.close()
    assert code == 2
    assert f"cannot listen on localhost:{port}" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the token file


def test_the_token_file_is_private_even_over_a_readable_one(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "data" / "twitch_tokens.json")
    store.path.parent.mkdir()
    store.path.write_text('{"users": {}}')
    store.path.chmod(0o644)

    store.put(StoredToken(BOT, "quipbot", "access", "refresh", ["user:bot"]))
    store.put(StoredToken(OWNER, "owner", "a2", "r2", ["channel:bot"]))

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    bot = store.get(BOT)
    assert bot is not None
    assert (bot.login, bot.access_token, bot.refresh_token) == ("quipbot", "access", "refresh")
    assert set(store.load()) == {BOT, OWNER}
    assert [p.name for p in store.path.parent.iterdir()] == ["twitch_tokens.json"]  # no temp


def test_a_damaged_token_file_says_what_to_do(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "twitch_tokens.json")
    store.path.write_text("{not json")
    with pytest.raises(TokenFileError, match="is damaged: delete it and run `quipbot twitch-auth`"):
        store.load()


# ------------------------------------------------------------------------------ quipbot check


def lines(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings]


async def test_check_names_each_missing_key(isolated_env: None, tmp_path: Path) -> None:
    settings = Settings(bot={"data_dir": tmp_path}, twitch={"enabled": True, "client_id": "x"})
    findings = await check_twitch(settings)
    assert lines(findings) == [
        "FAIL twitch.client_secret: not set: the app's Client Secret, from "
        "https://dev.twitch.tv/console/apps",
        "FAIL twitch.bot_id: not set: the bot account's numeric user id "
        "(`quipbot twitch-auth` prints it)",
        "FAIL twitch.owner_id: not set: your own (the broadcaster's) numeric user id "
        "(`quipbot twitch-auth` prints it)",
        'FAIL twitch.channels: not set: the channel logins to join, e.g. ["mychannel"]',
    ]


async def test_check_all_good(fake: FakeTwitch, tmp_path: Path) -> None:
    access, refresh = fake.add_user_token(BOT)
    store_of(tmp_path).put(StoredToken(BOT, "quipbot", access, refresh))
    owner_access, owner_refresh = fake.add_user_token(OWNER, scopes=["channel:bot"])
    store_of(tmp_path).put(StoredToken(OWNER, "owner", owner_access, owner_refresh))

    findings = await check_twitch(settings_for(fake, tmp_path))

    assert all(f.ok for f in findings), lines(findings)
    bot_line, owner_line = lines(findings)
    assert bot_line.startswith("ok   twitch bot token: quipbot (id 200) from ")
    assert "scopes user:read:chat user:write:chat user:bot" in bot_line
    assert (
        owner_line == "ok   twitch #owner: owner granted channel:bot: replies carry the bot badge"
    )


async def test_check_without_a_token(fake: FakeTwitch, tmp_path: Path) -> None:
    findings = await check_twitch(settings_for(fake, tmp_path))
    assert lines(findings)[0] == (
        "FAIL twitch bot token: no token for the bot account (id 200): run `quipbot "
        "twitch-auth`, or set twitch.access_token and twitch.refresh_token"
    )
    assert lines(findings)[1].startswith("ok   twitch #owner: owner has not granted channel:bot")


async def test_check_refreshes_an_expired_token_and_saves_it(
    fake: FakeTwitch, tmp_path: Path
) -> None:
    access, refresh = fake.add_user_token(BOT)
    fake.expire_token(access)
    settings = settings_for(fake, tmp_path, access_token=access, refresh_token=refresh)

    [bot_line, _] = lines(await check_twitch(settings))

    assert bot_line.startswith("ok   twitch bot token: quipbot (id 200) from twitch.access_token")
    assert "(it had expired: refreshed it)" in bot_line
    saved = store_of(tmp_path).get(BOT)
    assert saved is not None and fake.tokens[saved.access_token].user_id == BOT


async def test_check_an_expired_token_that_cannot_be_refreshed(
    fake: FakeTwitch, tmp_path: Path
) -> None:
    access, refresh = fake.add_user_token(BOT)
    fake.expire_token(access)
    fake.revoke_refresh_token(refresh)
    store_of(tmp_path).put(StoredToken(BOT, "quipbot", access, refresh))

    [bot_line, _] = lines(await check_twitch(settings_for(fake, tmp_path)))

    assert bot_line == (
        f"FAIL twitch bot token: the token in {store_of(tmp_path).path} has expired and "
        "Twitch refused to refresh it (Invalid refresh token): run `quipbot twitch-auth` again"
    )
    assert refresh not in bot_line and access not in bot_line


async def test_check_missing_scopes_and_wrong_account(fake: FakeTwitch, tmp_path: Path) -> None:
    access, refresh = fake.add_user_token(BOT, scopes=["user:read:chat"])
    settings = settings_for(fake, tmp_path, access_token=access, refresh_token=refresh)
    [bot_line, _] = lines(await check_twitch(settings))
    assert bot_line == (
        "FAIL twitch bot token: the bot's token lacks the scope(s) user:write:chat user:bot: "
        "run `quipbot twitch-auth` again and approve every permission with the bot account"
    )

    access, refresh = fake.add_user_token(VIEWER)
    settings = settings_for(fake, tmp_path, access_token=access, refresh_token=refresh)
    [bot_line, _] = lines(await check_twitch(settings))
    assert bot_line == (
        "FAIL twitch bot token: the token in twitch.access_token is for viewer (id 300), not "
        "for twitch.bot_id 200: run `quipbot twitch-auth` again"
    )


async def test_check_wrong_secret_and_unknown_channel(fake: FakeTwitch, tmp_path: Path) -> None:
    findings = await check_twitch(settings_for(fake, tmp_path, client_secret="nope"))
    assert lines(findings) == [
        "FAIL twitch app: Twitch refused twitch.client_secret (invalid client secret)"
    ]

    findings = await check_twitch(settings_for(fake, tmp_path, channels=["owner", "#Nobody"]))
    assert "FAIL twitch.channels: no Twitch channel named nobody" in lines(findings)


async def test_check_when_twitch_is_unreachable(
    isolated_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    monkeypatch.setattr(twitchio.http.Route, "ID_BASE", nowhere)
    monkeypatch.setattr(twitchio.http.Route, "BASE", nowhere + "helix/")
    settings = Settings(
        bot={"data_dir": tmp_path},
        twitch={
            "enabled": True,
            "client_id": "id",
            "client_secret": "secret",
            "bot_id": BOT,
            "owner_id": OWNER,
            "channels": ["owner"],
        },
    )
    [line] = lines(await check_twitch(settings))
    assert line.startswith("FAIL twitch: cannot reach Twitch (")


async def test_quipbot_check_includes_the_twitch_lines(fake: FakeTwitch, tmp_path: Path) -> None:
    findings = await run_checks(settings_for(fake, tmp_path))
    twitch_lines = [line for line in lines(findings) if " twitch" in line]
    assert "FAIL twitch bot token: no token for the bot account" in "\n".join(twitch_lines)
