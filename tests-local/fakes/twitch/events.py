"""Chat notifications as EventSub sends them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fakes.twitch.model import (
    _MENTION,
    FakeUser,
    _fragment,
)


class ChatEventsMixin:
    """Chat notifications as EventSub sends them."""

    # ------------------------------------------------------------------ chat events

    def _user(self, user_id: str) -> FakeUser:
        try:
            return self.users[str(user_id)]
        except KeyError:
            raise KeyError(f"unknown user {user_id!r}; call add_user first") from None

    def _badges_for(self, broadcaster_id: str, user_id: str) -> list[tuple[str, str]]:
        if user_id == broadcaster_id:
            return [("broadcaster", "1")]
        if user_id in self.moderators.get(broadcaster_id, set()):
            return [("moderator", "1")]
        return []

    def _chat_event(
        self,
        broadcaster: FakeUser,
        chatter: FakeUser,
        text: str,
        badges: Sequence[tuple[str, str] | tuple[str, str, str]],
        reply_to: str | None,
    ) -> dict[str, Any]:
        reply: dict[str, Any] | None = None
        if reply_to is not None:
            parent = self._chat_log.get(reply_to)
            if parent is None:
                raise ValueError(f"reply_to: no chat message with id {reply_to!r}")
            thread = parent["reply"] or {
                "thread_message_id": parent["message_id"],
                "thread_user_id": parent["chatter_user_id"],
                "thread_user_login": parent["chatter_user_login"],
                "thread_user_name": parent["chatter_user_name"],
            }
            reply = {
                "parent_message_id": parent["message_id"],
                "parent_message_body": parent["message"]["text"],
                "parent_user_id": parent["chatter_user_id"],
                "parent_user_login": parent["chatter_user_login"],
                "parent_user_name": parent["chatter_user_name"],
                "thread_message_id": thread["thread_message_id"],
                "thread_user_id": thread["thread_user_id"],
                "thread_user_login": thread["thread_user_login"],
                "thread_user_name": thread["thread_user_name"],
            }
        event: dict[str, Any] = {
            "broadcaster_user_id": broadcaster.id,
            "broadcaster_user_login": broadcaster.login,
            "broadcaster_user_name": broadcaster.display_name,
            "chatter_user_id": chatter.id,
            "chatter_user_login": chatter.login,
            "chatter_user_name": chatter.display_name,
            "message_id": str(uuid.uuid4()),
            "message": {"text": text, "fragments": self._fragments(text)},
            "color": chatter.color,
            "badges": [
                {"set_id": b[0], "id": b[1], "info": b[2] if len(b) > 2 else ""} for b in badges
            ],
            "message_type": "text",
            "cheer": None,
            "reply": reply,
            "channel_points_custom_reward_id": None,
            "channel_points_animation_id": None,
            "source_broadcaster_user_id": None,
            "source_broadcaster_user_login": None,
            "source_broadcaster_user_name": None,
            "source_message_id": None,
            "source_badges": None,
            "is_source_only": None,
        }
        self._chat_log[event["message_id"]] = event
        return event

    def _fragments(self, text: str) -> list[dict[str, Any]]:
        """Split @mentions of known users into mention fragments, as Twitch does."""
        by_login = {u.login: u for u in self.users.values()}
        fragments: list[dict[str, Any]] = []
        position = 0
        for match in _MENTION.finditer(text):
            user = by_login.get(match.group(1).lower())
            if user is None:
                continue
            if match.start() > position:
                fragments.append(_fragment("text", text[position : match.start()]))
            mention = {"user_id": user.id, "user_login": user.login, "user_name": user.display_name}
            fragments.append(_fragment("mention", match.group(0), mention=mention))
            position = match.end()
        if position < len(text) or not fragments:
            fragments.append(_fragment("text", text[position:]))
        return fragments
