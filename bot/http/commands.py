"""The chat commands over HTTP, derived from their definitions: ``GET /api/commands`` lists them,
``POST /api/commands/{name}`` runs one through the router, as a viewer named by
``X-Quipbot-User``, with the same limits as in chat.

The body holds one field per argument of the command (``{"question": "..."}`` for ``ask``,
``{"vote": "+1", "joke": "#1a2b3c4d5e6f"}`` for ``vote``), and optionally ``conversation_id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.http.common import (
    CONVERSATION_ID,
    CONVERSATION_RULE,
    ApiError,
    api_message,
    has_surrogates,
    json_response,
    read_json,
    refused,
)
from commands.definition import Command
from commands.types import Role

if TYPE_CHECKING:
    from bot.app import App

CONVERSATION = "conversation_id"


class CommandRoutes:
    def __init__(self, app: App) -> None:
        self.app = app

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/commands", self.listing)
        router.add_post("/api/commands/{name}", self.run)

    async def listing(self, request: web.Request) -> web.Response:
        router = self.app.router
        language = router.language
        data = [
            {
                "name": command.name,
                "aliases": command.names(language)[1:],
                "description": command.describe(language),
                "moderators_only": command.min_role >= Role.MODERATOR,
                "args": [
                    {
                        "name": arg.name,
                        "description": arg.describe(language),
                        "required": arg.required,
                        "choices": [value for value, _ in arg.choices],
                        "max_chars": arg.max_chars or self.app.settings.limits.max_prompt_chars,
                    }
                    for arg in command.args
                ],
            }
            for command in router.visible_to(Role.BROADCASTER)
        ]
        return json_response({"object": "list", "data": data})

    async def run(self, request: web.Request) -> web.Response:
        router = self.app.router
        command = router.find(request.match_info["name"])
        if command is None:
            raise ApiError(404, "no such command: GET /api/commands lists them", code="not_found")
        if command.min_role > Role.VIEWER:
            raise ApiError(403, f"{command.name} is for moderators in chat", code="forbidden")
        values, conversation = self._parse(command, await read_json(request))
        line = command.line(values)
        message = api_message(request, "commands", line, conversation)
        reply = await router.dispatch(command.name, message, line)
        if reply is None or reply.retry_after_s is not None:
            raise refused(reply)
        body: dict[str, Any] = {
            "command": command.name,
            "text": await reply.collect(),
            "source": reply.source,
        }
        if reply.joke_id is not None:
            body["joke_id"] = reply.joke_id
        return json_response(body, headers={"X-Quipbot-Cache": reply.source})

    def _parse(self, command: Command, body: Any) -> tuple[dict[str, str], str | None]:
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object, one field per argument")
        known = {arg.name: arg for arg in command.args}
        for name in body:
            if name not in known and name != CONVERSATION:
                expected = ", ".join(known) or "no argument"
                raise ApiError(
                    400, f"unknown field {name[:50]!r}; {command.name} takes {expected}", param=name
                )
        values: dict[str, str] = {}
        for arg in command.args:
            value = body.get(arg.name)
            if value is None:
                if arg.required:
                    raise ApiError(400, f"{arg.name} is required", param=arg.name)
                continue
            if not isinstance(value, str) or has_surrogates(value):
                raise ApiError(400, f"{arg.name} must be a string", param=arg.name)
            if arg.choices and value not in {choice for choice, _ in arg.choices}:
                allowed = ", ".join(choice for choice, _ in arg.choices)
                raise ApiError(400, f"{arg.name} must be one of {allowed}", param=arg.name)
            limit = arg.max_chars or self.app.settings.limits.max_prompt_chars
            if len(value) > limit:
                raise ApiError(
                    413, f"{arg.name} is over {limit} characters", code="too_large", param=arg.name
                )
            values[arg.name] = value
        conversation = body.get(CONVERSATION)
        if conversation is not None and not (
            isinstance(conversation, str) and CONVERSATION_ID.fullmatch(conversation)
        ):
            raise ApiError(400, CONVERSATION_RULE, param=CONVERSATION)
        return values, conversation
