"""The whole stack as chat sees it, for the intelligence tests: a fake LLM that writes French
jokes and answers, settings for it, and a viewer saying things in a Twitch channel."""

from __future__ import annotations

import itertools
import re

import pytest
from fakes.llm import FakeLLM

from commands.types import ChatMessage, Reply, Role
from config.settings import Settings

VIEWER = frozenset({Role.VIEWER})
MOD = frozenset({Role.MODERATOR})
_counter = itertools.count(1)


def made_up(n: int) -> str:
    """A word no dictionary has, different for every n: it makes each fake joke its own."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    word, n = "", n + len(syllables) ** 2  # three syllables at least
    while n:
        n, rest = divmod(n, len(syllables))
        word += syllables[rest]
    return word


def joke_batch(body: dict) -> str:
    """The fake LLM as a joke writer: a numbered preamble and N new French jokes, each with
    words of its own (so no two are rewordings of one another)."""
    wanted = len(re.findall(r"^\d+\. ", body["messages"][-1]["content"], re.MULTILINE))
    jokes = []
    for i, n in enumerate((next(_counter) for _ in range(wanted)), 1):
        a, b, c, d = (made_up(4 * n + k) for k in range(4))
        jokes.append(
            f"{i}. Pourquoi le pigeon {a} traverse-t-il toujours la route avec le {b} ? Parce "
            f"que le {c} est toujours en retard avec le {d}."
        )
    return "Voici des blagues :\n" + "\n".join(jokes)


def answer_to(body: dict) -> str:
    if "jokes" in body["messages"][0]["content"]:
        return joke_batch(body)
    last = body["messages"][-1]["content"]
    if last.startswith("Theme: "):
        return f"Flash spécial : {last.removeprefix('Theme: ')} a gagné au loto."
    return "Réponse : " + last.split("\n")[1]


@pytest.fixture(name="fake")
async def fake_fixture():
    async with FakeLLM(flavour="lmstudio", reply=answer_to) as server:
        yield server


def settings_for(tmp_path, fake=None, **extra) -> Settings:
    llm = (
        {
            "provider": "lmstudio",
            "base_url": fake.base_url,
            "connect_timeout_s": 0.5,
            "timeout_s": 5,
        }
        if fake
        else {}
    )
    return Settings(bot={"data_dir": tmp_path / "data"}, llm=llm, **extra)


def msg(
    text: str,
    user: str = "alice",
    roles=VIEWER,
    channel: str = "chan",
    conversation: str | None = None,
) -> ChatMessage:
    return ChatMessage("twitch", channel, f"id-{user}", user, roles, text, conversation)


async def say(app, text: str, user: str = "alice", **kwargs) -> Reply:
    reply = await app.router.handle(msg(text, user, **kwargs))
    assert reply is not None, text
    await reply.collect()
    return reply
