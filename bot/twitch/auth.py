"""``quipbot twitch-auth``: a new user's first OAuth grants, in a browser.

twitchio's web adapter serves the OAuth redirect on localhost. The command prints one Twitch
authorisation link for the bot account and one for the broadcaster, waits until both come back,
and stores the tokens in ``bot.data_dir`` (mode 0600), where ``quipbot run`` finds them.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import twitchio
from aiohttp import web
from twitchio.web import AiohttpAdapter

from bot.twitch.quirks import quiet_twitchio
from bot.twitch.tokens import (
    APPS_URL,
    BOT_SCOPES,
    StoredToken,
    TokenFileError,
    TokenStore,
    broadcaster_scopes,
)

if TYPE_CHECKING:
    from twitchio.authentication import UserTokenPayload

    from config.settings import Settings

DEFAULT_PORT = 4343
quiet_twitchio()


@dataclass(slots=True)
class Grant:
    who: str  # "the bot account", "the broadcaster"
    scopes: tuple[str, ...]
    user_id: str  # the account expected to grant it; "" when the config does not say yet
    url: str = ""
    done: bool = False


class GrantFlow:
    """The grants asked for, by OAuth state, and what to do when one comes back."""

    def __init__(self, store: TokenStore, out: TextIO) -> None:
        self.store = store
        self.out = out
        self.grants: dict[str, Grant] = {}
        self.finished = asyncio.Event()

    def ask(self, grant: Grant) -> str:
        """A fresh state for this grant: the callback accepts only states it handed out."""
        state = secrets.token_urlsafe(24)
        self.grants[state] = grant
        return state

    def accept(self, grant: Grant, token: UserTokenPayload) -> str:
        """Store the token; returns the line shown in the browser (and printed here)."""
        scopes = [token.scope] if isinstance(token.scope, str) else list(token.scope)
        user_id, login = token.user_id or "", token.user_login or ""
        try:
            self.store.put(
                StoredToken(user_id, login, token.access_token, token.refresh_token, scopes)
            )
        except TokenFileError as exc:
            return self._say(f"✘ {exc}")
        lacking = [s for s in grant.scopes if s not in scopes]
        if grant.user_id and user_id != grant.user_id:
            return self._say(
                f"✘ {login} (id {user_id}) answered the link for {grant.who}, but the config "
                f"expects id {grant.user_id}: log in to Twitch as that account and open the "
                "link again"
            )
        if lacking:
            return self._say(f"✘ {login} did not grant {' '.join(lacking)}: open the link again")
        grant.done = True
        line = f"✔ {grant.who}: {login} (id {user_id}) granted {' '.join(scopes)}"
        if not grant.user_id:
            key = "bot_id" if "user:bot" in grant.scopes else "owner_id"
            line += f'. Set twitch.{key} = "{user_id}" in your config'
        if all(g.done for g in self.grants.values()):
            self.finished.set()
        return self._say(line)

    def _say(self, line: str) -> str:
        print(line, file=self.out, flush=True)
        return line


class _CallbackAdapter(AiohttpAdapter[twitchio.Client]):
    """twitchio's adapter, with the OAuth ``state`` checked (twitchio 3.3 does not), so that a
    forged link cannot make this command store somebody else's token."""

    def __init__(self, flow: GrantFlow, *, host: str, port: int) -> None:
        super().__init__(host=host, port=port)
        self.flow = flow

    async def oauth_callback(self, request: web.Request) -> web.Response:
        grant = self.flow.grants.get(request.query.get("state", ""))
        if grant is None:
            return web.Response(
                status=400, text="Unknown link: open one printed by `quipbot twitch-auth`."
            )
        if "error" in request.query:  # the user pressed Cancel on Twitch
            reason = request.query.get("error_description") or request.query["error"]
            return web.Response(status=400, text=f"Twitch said: {reason}. Open the link again.")
        fetched = await self.fetch_token(request)
        if fetched.payload is None:
            response = fetched.response
            assert isinstance(response, web.Response)
            return response
        return web.Response(text=self.flow.accept(grant, fetched.payload))


class _AuthClient(twitchio.Client):
    async def event_oauth_authorized(self, payload: UserTokenPayload) -> None:
        """The callback above stores the token; twitchio would also start managing it here."""


def plan_grants(settings: Settings) -> list[Grant]:
    twitch = settings.twitch
    if twitch.bot_id and twitch.bot_id == twitch.owner_id:  # the streamer's own account
        return [
            Grant("your account (bot and broadcaster)", BOT_SCOPES + broadcaster_scopes(twitch), "")
        ]
    return [
        Grant("the bot account", BOT_SCOPES, twitch.bot_id),
        Grant("the broadcaster", broadcaster_scopes(twitch), twitch.owner_id),
    ]


async def run_twitch_auth(
    settings: Settings,
    *,
    host: str = "localhost",
    port: int = DEFAULT_PORT,
    out: TextIO = sys.stdout,
) -> int:
    twitch = settings.twitch
    secret = twitch.client_secret.get_secret_value()
    if not twitch.client_id or not secret:
        print(
            "twitch-auth needs twitch.client_id and twitch.client_secret. Create an app at "
            f"{APPS_URL} (category Chat Bot, OAuth Redirect URL "
            f"http://{host}:{port}/oauth/callback), then set them in quipbot.toml or as "
            "QUIPBOT_TWITCH__CLIENT_ID and QUIPBOT_TWITCH__CLIENT_SECRET.",
            file=sys.stderr,
        )
        return 2
    store = TokenStore.for_settings(settings)
    flow = GrantFlow(store, out)
    adapter = _CallbackAdapter(flow, host=host, port=port)
    client = _AuthClient(client_id=twitch.client_id, client_secret=secret, adapter=adapter)
    # The adapter is an aiohttp Application: serving it here, rather than through
    # adapter.run(), surfaces a busy port as an error instead of a log line.
    runner = web.AppRunner(adapter, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        print(
            f"cannot listen on {host}:{port} ({exc.strerror}): pass --port N, and add "
            f"http://{host}:N/oauth/callback to the app's OAuth Redirect URLs",
            file=sys.stderr,
        )
        return 2
    try:
        _print_plan(flow, plan_grants(settings), client, adapter, store)
        await flow.finished.wait()
        print(f"Tokens saved in {store.path} (readable by you only). Now: quipbot run", file=out)
        return 0
    finally:
        await runner.cleanup()
        await client.close(save_tokens=False)


def _print_plan(
    flow: GrantFlow,
    grants: list[Grant],
    client: twitchio.Client,
    adapter: AiohttpAdapter[twitchio.Client],
    store: TokenStore,
) -> None:
    lines = [
        "Twitch authorisation for quipbot.",
        f"Your app at {APPS_URL} must list this OAuth Redirect URL: {adapter.redirect_url}",
        "",
    ]
    for number, grant in enumerate(grants, 1):
        state = flow.ask(grant)
        grant.url = client.http.get_authorization_url(
            scopes=twitchio.Scopes(grant.scopes),
            redirect_uri=adapter.redirect_url,
            force_verify=True,
            state=state,
        ).url
        account = f" (id {grant.user_id})" if grant.user_id else ""
        lines += [
            f"{number}. Log in to twitch.tv as {grant.who}{account} (a private window makes "
            f"switching accounts easy), then open this link and approve {' '.join(grant.scopes)}:",
            f"   {grant.url}",
        ]
    lines.append("")
    if len(grants) > 1:
        lines.append(
            f"The broadcaster of every other channel in twitch.channels may open link "
            f"{len(grants)} too, so that the bot has its chat-bot badge there."
        )
    lines.append(f"Waiting for the grants; tokens go to {store.path}. Ctrl-C stops.")
    print("\n".join(lines), file=flow.out, flush=True)
