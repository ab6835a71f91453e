"""HTTP plumbing: recording requests, injected failures, JSON bodies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, MultiDict

from fakes.twitch.model import (
    _JSON_BODY,
    _RECORD,
    FakeToken,
    RecordedRequest,
    _helix_error,
    _oauth_error,
)


class PlumbingMixin:
    """HTTP plumbing: recording requests, injected failures, JSON bodies."""

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
        request[_JSON_BODY] = body
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.query),
            headers=CIMultiDict(request.headers),
            json=body,
            time=self._clock(),
        )
        request[_RECORD] = record
        self.requests.append(record)
        self._notify()

        response: web.StreamResponse
        injected = self._injected_failure(request)
        if injected is not None:
            response = injected
        else:
            response = await handler(request)
        if record.status is None:
            record.status = response.status
        self._notify()
        return response

    def _injected_failure(self, request: web.Request) -> web.Response | None:
        for rule in self._failures:
            if rule.path == request.path and rule.method in (None, request.method):
                rule.times -= 1
                if rule.times <= 0:
                    self._failures.remove(rule)
                if request.path.startswith("/oauth2/"):
                    return _oauth_error(rule.status, rule.message or "injected failure")
                return _helix_error(rule.status, rule.message, rule.headers)
        return None

    def _helix(
        self, handler: Callable[[web.Request, FakeToken], Any]
    ) -> Callable[[web.Request], Any]:
        """Wrap a Helix handler with Twitch's Client-Id / bearer token checks."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not value:
                return _helix_error(401, "OAuth token is missing")
            token = self._valid_token(value)
            if token is None:
                # twitchio refreshes only on this exact message (case-insensitively).
                return _helix_error(401, "Invalid OAuth token")
            client_id = request.headers.get("Client-Id")
            if not client_id:
                return _helix_error(401, "Client-Id header required")
            if client_id != token.client_id:
                return _helix_error(401, "Client ID and OAuth token do not match")
            response: web.StreamResponse = await handler(request, token)
            return response

        return wrapped
