"""``quipbot check`` for Discord: the token, the invite URL, the intents and the servers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.contracts import Finding

if TYPE_CHECKING:
    from config.settings import Settings

SCOPES = ("bot", "applications.commands")
# What the bot does in a channel: read it, answer (also in threads), and reply to a message,
# which Discord allows only with Read Message History. Slash answers need no permission.
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
)
PERMISSION_NAMES = "View Channels, Send Messages, Send Messages in Threads, Read Message History"
CHECK_TIMEOUT_S = 15.0


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=BOT_PERMISSIONS, scopes=SCOPES)


async def check(settings: Settings) -> list[Finding]:
    token = settings.discord.token.get_secret_value()
    if not token:
        return []  # the config check already says discord.token is not set
    client = discord.Client(intents=discord.Intents.none())
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await client.login(token)  # GET /users/@me, then the application
            return await _findings(client, settings.discord.guild_ids)
    except discord.LoginFailure:
        return [
            Finding(
                False,
                "discord",
                "Discord rejected discord.token; copy a new one from "
                "discord.com/developers/applications → your app → Bot → Reset Token",
            )
        ]
    except (aiohttp.ClientError, OSError, TimeoutError, discord.HTTPException) as exc:
        return [Finding(False, "discord", f"cannot reach Discord ({type(exc).__name__}: {exc})")]
    finally:
        await client.close()


async def _findings(client: discord.Client, guild_ids: list[int]) -> list[Finding]:
    app = client.application
    assert client.user is not None and app is not None  # set by login()
    url = invite_url(app.id)
    findings = [
        Finding(
            True,
            "discord",
            f"token ok for bot {client.user} (id {client.user.id}); invite it with {url} "
            f"(scopes: {', '.join(SCOPES)}; permissions {BOT_PERMISSIONS.value}: "
            f"{PERMISSION_NAMES})",
        )
    ]
    if not (app.flags.gateway_message_content or app.flags.gateway_message_content_limited):
        findings.append(
            Finding(
                True,
                "discord intents",
                "Message Content intent is off: slash commands, mentions and DMs work, but not "
                "prefix commands in channels; turn it on under Bot → Privileged Gateway Intents",
            )
        )
    for guild_id in guild_ids:
        try:
            guild = await client.fetch_guild(guild_id)
        except (discord.NotFound, discord.Forbidden):
            findings.append(
                Finding(
                    False,
                    f"discord guild {guild_id}",
                    f"the bot is not in this server; invite it with {url}",
                )
            )
        else:
            findings.append(
                Finding(True, f"discord guild {guild_id}", f"the bot is in {guild.name!r}")
            )
    return findings
