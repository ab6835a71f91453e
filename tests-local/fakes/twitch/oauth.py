"""id.twitch.tv: tokens, validation, refresh and authorisation."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from fakes.twitch.model import (
    FakeToken,
    _json,
    _oauth_error,
)


class OAuthMixin:
    """id.twitch.tv: tokens, validation, refresh and authorisation."""

    # ------------------------------------------------------------------ OAuth

    async def _oauth_token(self, request: web.Request) -> web.Response:
        # twitchio sends the parameters in the query string; Twitch also accepts a form body.
        params: MultiDict[str] = MultiDict(request.query)
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params.add(key, value)

        if params.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid client")
        if params.get("client_secret") != self.client_secret:
            return _oauth_error(403, "invalid client secret")

        grant_type = params.get("grant_type")
        if grant_type == "client_credentials":
            token = FakeToken(
                access_token=secrets.token_hex(15),
                client_id=self.client_id,
                scopes=(),
                expires_at=self._clock() + self.app_token_lifetime,
            )
            self.tokens[token.access_token] = token
            return _json(
                {
                    "access_token": token.access_token,
                    "expires_in": int(self.app_token_lifetime),
                    "token_type": "bearer",
                }
            )
        if grant_type == "refresh_token":
            old = self._refresh_tokens.get(params.get("refresh_token", ""))
            if old is None or old.user_id is None:
                return _oauth_error(400, "Invalid refresh token")
            if self.rotate_refresh_tokens:
                assert old.refresh_token is not None
                del self._refresh_tokens[old.refresh_token]
            new = self._issue_user_token(old.user_id, old.scopes, None)
            return _json(
                {
                    "access_token": new.access_token,
                    "refresh_token": new.refresh_token,
                    "expires_in": int(self.user_token_lifetime),
                    "scope": list(new.scopes),
                    "token_type": "bearer",
                }
            )
        if grant_type == "authorization_code":
            grant = self._codes.pop(params.get("code", ""), None)
            if grant is None:
                return _oauth_error(400, "Invalid authorization code")
            user_id, scopes, redirect_uri = grant
            if params.get("redirect_uri") != redirect_uri:
                return _oauth_error(400, "Parameter redirect_uri does not match registered URI")
            token = self._issue_user_token(user_id, scopes, None)
            return _json(
                {
                    "access_token": token.access_token,
                    "refresh_token": token.refresh_token,
                    "expires_in": int(self.user_token_lifetime),
                    "scope": list(scopes),
                    "token_type": "bearer",
                }
            )
        return _oauth_error(400, "unsupported grant type")

    async def _oauth_authorize(self, request: web.Request) -> web.StreamResponse:
        """The consent page, answered at once for ``logged_in_user``: a redirect to the app's
        redirect_uri with a one-time code (or the error Twitch sends when the user cancels)."""
        query = request.query
        if query.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid client")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return _oauth_error(400, "redirect_mismatch")
        if query.get("response_type") != "code":
            return _oauth_error(400, "unsupported response_type")
        if self.logged_in_user is None:
            return web.Response(status=200, text="Log in to Twitch")
        state = query.get("state", "")
        if self.deny_authorization:
            denied = {
                "error": "access_denied",
                "error_description": "The user denied you access",
                "state": state,
            }
            raise web.HTTPFound(f"{redirect_uri}?{urlencode(denied)}")
        scopes = tuple(query.get("scope", "").split())
        code = secrets.token_hex(15)
        self._codes[code] = (self.logged_in_user, scopes, redirect_uri)
        answer = {"code": code, "scope": " ".join(scopes), "state": state}
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    async def _oauth_validate(self, request: web.Request) -> web.Response:
        # twitchio sends "OAuth x" or, through its managed client, "Bearer x": accept both.
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("oauth", "bearer") or not value:
            return _oauth_error(401, "missing authorization token")
        token = self._valid_token(value)
        if token is None:
            return _oauth_error(401, "invalid access token")
        payload: dict[str, Any] = {
            "client_id": token.client_id,
            "scopes": list(token.scopes),
            "expires_in": max(0, int(token.expires_at - self._clock())),
        }
        if token.user_id is not None:
            payload["login"] = self.users[token.user_id].login
            payload["user_id"] = token.user_id
        return _json(payload)

    def _issue_user_token(
        self, user_id: str, scopes: tuple[str, ...], expires_in: float | None
    ) -> FakeToken:
        token = FakeToken(
            access_token=secrets.token_hex(15),
            client_id=self.client_id,
            scopes=scopes,
            expires_at=self._clock() + (expires_in or self.user_token_lifetime),
            user_id=user_id,
            refresh_token=secrets.token_hex(25),
        )
        self.tokens[token.access_token] = token
        assert token.refresh_token is not None
        self._refresh_tokens[token.refresh_token] = token
        self._grants.setdefault(user_id, set()).update(scopes)
        return token

    def _valid_token(self, access_token: str) -> FakeToken | None:
        token = self.tokens.get(access_token)
        if token is None or token.expired or token.expires_at <= self._clock():
            return None
        return token
