"""Discord, through discord.py 2.7: slash commands derived from the command list, prefix
commands, mentions, reactions as votes, streamed answers split at 2000 characters; and
``quipbot check``.

The app uses only what this package exports; its modules are its own business."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.discord.adapter import DiscordAdapter
from bot.discord.check import check

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["DiscordAdapter", "check", "create"]

# The bot never joins a voice channel: "PyNaCl (or davey) is not installed, voice will NOT be
# supported" at every start would only worry the streamer.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def create(app: App) -> DiscordAdapter:
    return DiscordAdapter(app)
