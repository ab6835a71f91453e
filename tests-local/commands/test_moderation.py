"""Moderator commands answer with figures that match what happened."""

from __future__ import annotations

from commands.types import ChatMessage, Role

VIEWER = frozenset({Role.VIEWER})
MOD = frozenset({Role.VIEWER, Role.MODERATOR})


def msg(text: str, user: str = "alice", roles: frozenset[Role] = VIEWER) -> ChatMessage:
    return ChatMessage("twitch", "chan", f"id-{user}", user, roles, text)


async def test_jokestats_counts_what_was_told_and_voted(settings, make_app):
    app = await make_app(settings, enforce_limits=False)
    assert await app.router.handle(msg("!jokestats")) is None  # moderators only
    told = {(await app.router.handle(msg("!blague", user))).text for user in ("ada", "bob", "cy")}
    await app.router.handle(msg("!vote +1", "ada"))
    stats = await app.router.handle(msg("!jokestats", "mo", MOD))
    assert stats.text == (
        f"🃏 pool 0 · told 3 since start · archive {len(told)} (llm 0) · retired 0 · best +1"
    )
