"""Messages, their checks and reactions, and slash commands' options."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fakes.discord.model import (
    ALL_PERMISSIONS,
    ALLOWED_MESSAGE_FLAGS,
    DIRECT_MESSAGE_REACTIONS,
    EPHEMERAL,
    GUILD_MESSAGE_REACTIONS,
    JSON,
    VIEW_CHANNEL,
    ApiError,
    InteractionRecord,
    _emoji_key,
    _form_error,
    _message_errors,
    _missing_permissions,
    _now_iso,
    _parse_emoji,
    _unknown,
)


class MessagesMixin:
    """Messages, their checks and reactions, and slash commands' options."""

    # ------------------------------------------------------------------ messages

    def _message(self, message_id: int, channel_id: int | None = None) -> JSON:
        message = self.messages.get(message_id)
        if message is None or (channel_id is not None and int(message["channel_id"]) != channel_id):
            raise _unknown("Message", 10008)
        return message

    def _new_message(
        self,
        channel_id: int,
        author: JSON,
        body: JSON,
        *,
        files: Iterable[str] = (),
        extra_mentions: Iterable[int] = (),
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> JSON:
        message_id = self._next_id()
        message: JSON = {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel_id),
            "author": author,
            "content": "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if "nonce" in body:
            message["nonce"] = body["nonce"]
        if interaction is not None:
            user = self.users[interaction.user_id]
            message.update(
                type=20,  # CHAT_INPUT_COMMAND
                webhook_id=str(self.APPLICATION_ID),
                application_id=str(self.APPLICATION_ID),
                interaction={"id": str(interaction.id), "type": 2, "name": interaction.name}
                | {"user": user},
                interaction_metadata={
                    "id": str(interaction.id),
                    "type": 2,
                    "user": user,
                    "authorizing_integration_owners": {"0": str(interaction.guild_id)},
                    "name": interaction.name,
                    "command_type": 1,
                },
            )
        reference = body.get("message_reference")
        if reference:
            referenced = self._message(int(reference["message_id"]))
            message["type"] = 19 if interaction is None else message["type"]  # REPLY
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
            } | ({"guild_id": str(self.GUILD_ID)} if self._is_guild(channel_id) else {})
            message["referenced_message"] = referenced
        self._apply_body(message, body, files, extra_mentions)
        if flags is not None:
            message["flags"] = flags
        self.messages[message_id] = message
        if interaction is None or not message["flags"] & EPHEMERAL:
            self.channels[channel_id]["last_message_id"] = str(message_id)
        return message

    def _apply_body(
        self, message: JSON, body: JSON, files: Iterable[str], extra_mentions: Iterable[int] = ()
    ) -> None:
        """Merge create/edit fields into a stored message, recomputing mentions."""
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [{"type": "rich"} | e for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = body["components"] or []
        if "flags" in body:
            message["flags"] = (message["flags"] & ~ALLOWED_MESSAGE_FLAGS) | (
                int(body["flags"] or 0) & ALLOWED_MESSAGE_FLAGS
            )
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        for filename in files:  # new list: `message` may be a shallow copy of a stored one
            attachment_id = self._next_id()
            url = f"{self.base_url}/attachments/{message['channel_id']}/{attachment_id}/{filename}"
            attachment = {"id": str(attachment_id), "filename": filename, "size": 0, "url": url}
            message["attachments"] = [*message["attachments"], attachment | {"proxy_url": url}]
        self._compute_mentions(message, body.get("allowed_mentions"), extra_mentions)

    def _compute_mentions(
        self, message: JSON, allowed: JSON | None, extra: Iterable[int] = ()
    ) -> None:
        """Discord's `mentions` lists only the users that allowed_mentions lets it ping."""
        content = message["content"]
        user_ids = [int(u) for u in re.findall(r"<@!?(\d+)>", content)] + list(extra)
        role_ids = [int(r) for r in re.findall(r"<@&(\d+)>", content)]
        reply_author: int | None = None
        if "referenced_message" in message:
            reply_author = int(message["referenced_message"]["author"]["id"])
        if allowed is None:  # no allowed_mentions: everything pings, replies included
            parse, users, roles, ping_reply = ["users", "roles", "everyone"], set(), set(), True
        else:
            parse = allowed.get("parse") or []
            users = {int(u) for u in allowed.get("users") or []}
            roles = {int(r) for r in allowed.get("roles") or []}
            ping_reply = bool(allowed.get("replied_user"))
        mentioned = [
            u
            for u in dict.fromkeys(user_ids)
            if u in self.users and ("users" in parse or u in users)
        ]
        if reply_author is not None and ping_reply and reply_author not in mentioned:
            mentioned.append(reply_author)
        message["mentions"] = [self.users[u] for u in mentioned]
        message["mention_roles"] = [
            str(r)
            for r in dict.fromkeys(role_ids)
            if r in self.roles and ("roles" in parse or r in roles)
        ]
        everyone = "everyone" in parse
        message["mention_everyone"] = everyone and bool(re.search(r"@(everyone|here)", content))

    def _check_message_body(self, body: Any, *, nested: str | None = None) -> None:
        """Raise 50035 for what Discord's form validation rejects."""
        if not isinstance(body, dict):
            raise ApiError(400, 50109, "The request body contains invalid JSON.")
        errors = _message_errors(body)
        if errors:
            raise _form_error({nested: errors} if nested else errors)

    def _check_not_empty(self, message: JSON, files: Iterable[str] = ()) -> None:
        if not (
            message["content"].strip()
            or message["embeds"]
            or message["attachments"]
            or message["components"]
            or list(files)
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _is_guild(self, channel_id: int) -> bool:
        return "guild_id" in self.channels[channel_id]

    def _check_channel_access(self, channel_id: int, needed: int = 0) -> JSON:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown("Channel", 10003)
        if "guild_id" in channel:
            perms = self._bot_permissions()
            if not perms & VIEW_CHANNEL:
                raise ApiError(403, 50001, "Missing Access")
            if perms & needed != needed:
                raise _missing_permissions()
        return channel

    async def _react(self, message: JSON, emoji: JSON, user_id: int, *, add: bool) -> None:
        key = (int(message["id"]), _emoji_key(emoji))
        users = self._reactions.setdefault(key, [])
        if add == (user_id in users):
            return  # already in that state: Discord answers 204 and dispatches nothing
        if add:
            users.append(user_id)
        else:
            users.remove(user_id)
        self._refresh_reactions(message)
        channel_id = int(message["channel_id"])
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        is_guild = self._is_guild(channel_id)
        if is_guild:
            data["guild_id"] = str(self.GUILD_ID)
        if add:
            data["message_author_id"] = message["author"]["id"]
            data["burst_colors"] = []
            if is_guild:
                data["member"] = self._ensure_member(user_id)
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        intent = GUILD_MESSAGE_REACTIONS if is_guild else DIRECT_MESSAGE_REACTIONS
        await self._dispatch(event, data, intent=intent)

    def _refresh_reactions(self, message: JSON) -> None:
        reactions = []
        for (message_id, key), users in self._reactions.items():
            if message_id == int(message["id"]) and users:
                reactions.append(
                    {
                        "count": len(users),
                        "count_details": {"burst": 0, "normal": len(users)},
                        "me": self.BOT_USER_ID in users,
                        "me_burst": False,
                        "burst_colors": [],
                        "emoji": _parse_emoji(key),
                    }
                )
        if reactions:
            message["reactions"] = reactions
        else:
            message.pop("reactions", None)

    # ------------------------------------------------------------------ commands

    def _find_command(self, name: str) -> tuple[JSON, bool]:
        for command in self.synced_commands.get(self.GUILD_ID, []):
            if command["name"] == name:
                return command, True
        for command in self.synced_commands.get(None, []):
            if command["name"] == name:
                return command, False
        raise ValueError(f"/{name} is not a synced command (synced: {self.synced_commands})")

    def _build_options(
        self, command: JSON, path: list[str], values: dict[str, Any], resolved: JSON
    ) -> list[JSON]:
        schema: list[JSON] = command.get("options", [])
        if path:  # walk into subcommand groups / subcommands
            sub = next((o for o in schema if o["name"] == path[0] and o["type"] in (1, 2)), None)
            if sub is None:
                raise ValueError(f"no subcommand {path[0]!r} in /{command['name']}")
            inner = self._build_options(sub, path[1:], values, resolved)
            return [{"name": sub["name"], "type": sub["type"], "options": inner}]
        if any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{command['name']} needs a subcommand")
        known = {o["name"] for o in schema}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)} for /{command['name']}")
        built = []
        for option in schema:
            if option["name"] not in values:
                if option.get("required"):
                    raise ValueError(f"missing required option {option['name']!r}")
                continue
            value = self._option_value(option, values[option["name"]], resolved)
            built.append({"name": option["name"], "type": option["type"], "value": value})
        return built

    def _option_value(self, option: JSON, value: Any, resolved: JSON) -> Any:
        kind, name = option["type"], option["name"]
        if kind == 3:
            if not isinstance(value, str):
                raise ValueError(f"{name}: expected str")
            if not option.get("min_length", 0) <= len(value) <= option.get("max_length", 6000):
                raise ValueError(f"{name}: length outside the option's bounds")
        elif kind in (4, 10):
            ok = int if kind == 4 else (int, float)
            if isinstance(value, bool) or not isinstance(value, ok):
                raise ValueError(f"{name}: expected {'int' if kind == 4 else 'number'}")
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"{name}: value outside the option's bounds")
        elif kind == 5:
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected bool")
        elif kind in (6, 9) and int(value) in self.users:
            user_id = int(value)
            resolved.setdefault("users", {})[str(user_id)] = self.users[user_id]
            if user_id in self.members:
                member = {k: v for k, v in self.members[user_id].items() if k != "user"}
                member["permissions"] = str(self._member_permissions(user_id))
                resolved.setdefault("members", {})[str(user_id)] = member
            return str(user_id)
        elif kind in (8, 9) and int(value) in self.roles:
            resolved.setdefault("roles", {})[str(value)] = self.roles[int(value)]
            return str(value)
        elif kind == 7 and int(value) in self.channels:
            channel = self.channels[int(value)]
            resolved.setdefault("channels", {})[str(value)] = channel | {
                "permissions": str(ALL_PERMISSIONS)
            }
            return str(value)
        else:
            raise ValueError(f"{name}: unsupported option type {kind} or unknown id {value!r}")
        choices = option.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{name}: {value!r} is not one of the choices")
        return value
