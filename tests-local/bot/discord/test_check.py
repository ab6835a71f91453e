"""`quipbot check` for Discord, through the real discord.py client against FakeDiscord."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.discord import FakeDiscord

from bot.check import run_checks
from bot.discord import check
from config.settings import Settings

F = FakeDiscord
INVITE = (
    f"https://discord.com/oauth2/authorize?client_id={F.APPLICATION_ID}"
    "&scope=bot+applications.commands&permissions=274877975552"
)

pytestmark = pytest.mark.usefixtures("isolated_env")


def discord_settings(tmp_path, **discord) -> Settings:
    return Settings(
        bot={"data_dir": tmp_path / "data"},
        discord={"enabled": True, "token": F.TOKEN} | discord,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


async def test_a_good_token_gives_the_invite_url_and_the_permissions(fake, tmp_path):
    settings = discord_settings(tmp_path, guild_ids=[F.GUILD_ID, 42])
    with fake.patch_discord():
        findings = await check(settings)
    token, in_guild, not_in_guild = findings
    assert token.ok and token.what == "discord"
    assert f"token ok for bot quipbot (id {F.BOT_USER_ID})" in token.detail
    assert INVITE in token.detail
    assert "scopes: bot, applications.commands" in token.detail
    assert (
        "permissions 274877975552: View Channels, Send Messages, Send Messages in Threads, "
        "Read Message History" in token.detail
    )
    assert in_guild.ok and "Quip Test Server" in in_guild.detail
    assert not not_in_guild.ok and not_in_guild.what == "discord guild 42"
    assert f"not in this server; invite it with {INVITE}" in not_in_guild.detail
    assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]


async def test_the_message_content_intent_being_off_is_explained(tmp_path):
    fake = FakeDiscord(privileged_intents=0)
    await fake.start()
    try:
        with fake.patch_discord():
            token, intents = await check(discord_settings(tmp_path))
    finally:
        await fake.stop()
    assert token.ok and intents.ok
    assert "Message Content intent is off" in intents.detail
    assert "Privileged Gateway Intents" in intents.detail


async def test_a_wrong_token_is_one_clear_line_without_the_token(fake, tmp_path):
    settings = discord_settings(tmp_path, token="MTIz.wrong.token-value")
    with fake.patch_discord():
        (finding,) = await check(settings)
    assert not finding.ok
    assert str(finding).startswith("FAIL discord: Discord rejected discord.token")
    assert "wrong" not in str(finding) and "\n" not in str(finding)


async def test_discord_unreachable_is_reported(tmp_path):
    fake = FakeDiscord()
    await fake.start()
    await fake.stop()  # nothing listens on its port any more
    with fake.patch_discord():
        (finding,) = await check(discord_settings(tmp_path))
    assert not finding.ok and finding.detail.startswith("cannot reach Discord")


async def test_quipbot_check_includes_discord(fake, tmp_path):
    with fake.patch_discord():
        findings = await run_checks(discord_settings(tmp_path))
    assert [f.what for f in findings if f.what.startswith("discord")] == ["discord"]
    assert all(f.ok for f in findings), [str(f) for f in findings]

    missing = await run_checks(discord_settings(tmp_path, token=""))
    problems = [str(f) for f in missing if not f.ok]
    assert problems == ["FAIL discord: discord.enabled is true but discord.token is not set"]
