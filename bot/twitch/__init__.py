"""Twitch, through twitchio 3: EventSub chat in, Helix replies out, paced per channel; the
tokens, their OAuth set-up (``quipbot twitch-auth``) and ``quipbot check``.

The app uses only what this package exports; its modules are its own business."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.twitch.adapter import TwitchAdapter
from bot.twitch.auth import run_twitch_auth
from bot.twitch.check import check

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["TwitchAdapter", "check", "create", "run_twitch_auth"]


def create(app: App) -> TwitchAdapter:
    return TwitchAdapter(app)
