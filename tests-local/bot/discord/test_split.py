"""Splitting answers for Discord's 2000 characters, and streaming them into messages."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import AsyncIterator

import pytest

from bot.discord.split import DISCORD_LIMIT, split_message, take_part
from bot.discord.stream import StreamWriter


def squeezed(text: str) -> str:
    """Text without whitespace or fences: what must survive any split unchanged."""
    return re.sub(r"\s|```", "", text)


def assert_well_formed(parts: list[str], limit: int = DISCORD_LIMIT) -> None:
    assert parts, "nothing to send"
    for part in parts:
        assert part.strip() and len(part) <= limit, (len(part), part[:80])
        assert part.count("```") % 2 == 0, part


def test_short_and_blank_texts():
    assert split_message("  hello  ") == ["hello"]
    assert split_message(" \n\t ") == []
    assert split_message("x" * 2000) == ["x" * 2000]


def test_a_paragraph_break_is_preferred():
    first, second = "A" * 1500 + ".", "B " * 500
    parts = split_message(first + "\n\n" + second)
    assert parts == [first, second.strip()]


def test_then_a_sentence_end_then_a_word_boundary():
    sentences = " ".join(f"Sentence number {i} says something." for i in range(80))
    parts = split_message(sentences)
    assert_well_formed(parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == sentences

    words = " ".join(f"word{i}" for i in range(600))
    parts = split_message(words)
    assert_well_formed(parts)
    assert " ".join(parts) == words  # no word cut in two


def test_a_closing_quote_stays_with_its_sentence():
    text = ('He said "stop." ' * 200).strip()
    parts = split_message(text)
    assert all(p.endswith('stop."') for p in parts)


def test_one_huge_word_is_cut_at_the_limit():
    assert [len(p) for p in split_message("x" * 4500)] == [2000, 2000, 500]


def test_a_code_block_that_fits_moves_whole_to_the_next_message():
    intro = "Short intro line."
    block = "```python\n" + "print('hello world')\n" * 94 + "```"
    assert len(intro) + len(block) > DISCORD_LIMIT > len(block)
    assert split_message(intro + "\n" + block + "\nDone.") == [intro, block + "\nDone."]


def test_a_code_block_longer_than_a_message_is_closed_and_reopened():
    lines = [f"    value_{i} = compute({i})" for i in range(150)]
    block = "```python\n" + "\n".join(lines) + "\n```"
    parts = split_message("Look:\n" + block + "\nThat's it.")
    assert_well_formed(parts)
    assert len(parts) >= 3
    for part in parts[1:-1]:
        assert part.startswith("```python\n") and part.endswith("\n```")
    code_lines = [
        line for part in parts for line in part.splitlines() if line.startswith("    value_")
    ]
    assert code_lines == lines  # every line whole, in order, indentation kept


def test_a_code_line_longer_than_a_message_is_still_fenced():
    block = "```\n" + "z" * 4500 + "\n```"
    parts = split_message(block)
    assert_well_formed(parts)
    assert squeezed("".join(parts)) == squeezed(block)


def test_an_inline_fence_is_never_cut_through():
    text = ("see ```inline code``` here " * 100).strip()
    parts = split_message(text)
    assert_well_formed(parts)
    assert squeezed("".join(parts)) == squeezed(text)


def random_markdown(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 60)):
        kind = rng.random()
        if kind < 0.1:
            body = "\n".join("x" * rng.randint(0, 120) for _ in range(rng.randint(1, 40)))
            pieces.append(f"```\n{body}\n```")
        elif kind < 0.2:
            pieces.append("\n\n")
        elif kind < 0.25:
            pieces.append("y" * rng.randint(100, 2500))  # a monster word
        else:
            words = (rng.choice(["word", "longer-word", "a", "end."]) for _ in range(40))
            pieces.append(" ".join(words))
    return rng.choice([" ", "\n"]).join(pieces)


@pytest.mark.parametrize("seed", range(40))
def test_any_text_splits_into_well_formed_parts_that_lose_nothing(seed):
    text = random_markdown(random.Random(seed))
    parts = split_message(text)
    assert_well_formed(parts)
    assert squeezed("".join(parts)) == squeezed(text)


def test_the_first_part_is_known_once_enough_text_has_arrived():
    rng = random.Random(7)
    for _ in range(100):
        text = random_markdown(rng).strip()
        if len(text) <= DISCORD_LIMIT + 3:
            continue
        assert take_part(text[: DISCORD_LIMIT + 3])[0] == take_part(text)[0]


# ---------------------------------------------------------------------- the stream writer


class Message:
    def __init__(self, box: Outbox, content: str) -> None:
        self.id = len(box.messages)
        self.box = box
        self.versions = [content]

    async def edit(self, content: str) -> None:
        self.box.log.append(("edit", self.id, asyncio.get_running_loop().time()))
        self.versions.append(content)


class Outbox:
    """Messages in memory, in the order sent, with every version of each."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.log: list[tuple[str, int, float]] = []

    async def send(self, content: str) -> Message:
        message = Message(self, content)
        self.messages.append(message)
        self.log.append(("send", message.id, asyncio.get_running_loop().time()))
        return message

    def final(self) -> list[str]:
        return [m.versions[-1] for m in self.messages]


async def pieces_of(text: str, rng: random.Random, pause: float = 0.0) -> AsyncIterator[str]:
    at = 0
    while at < len(text):
        size = rng.randint(1, 400)
        yield text[at : at + size]
        at += size
        await asyncio.sleep(pause)


@pytest.mark.parametrize("seed", range(15))
async def test_a_stream_ends_as_the_same_messages_as_the_whole_text(seed):
    rng = random.Random(seed)
    text = random_markdown(rng)
    box = Outbox()
    ids = await StreamWriter(box, interval=0.0).write(pieces_of(text, rng), when_empty="…")
    assert box.final() == (split_message(text) or ["…"])
    assert ids == [m.id for m in box.messages]


async def test_a_stream_waits_for_a_fence_that_straddles_the_limit():
    word = "w" * (DISCORD_LIMIT - 1)
    text = word + "```py\nprint(1)\n```"

    async def pieces() -> AsyncIterator[str]:
        yield word + "``"  # the third backtick has not arrived yet
        await asyncio.sleep(0)
        yield "`py\nprint(1)\n```"

    box = Outbox()
    await StreamWriter(box, interval=0.0).write(pieces(), when_empty="…")
    assert box.final() == split_message(text) == [word, "```py\nprint(1)\n```"]


async def test_a_stream_edits_at_most_once_per_interval_and_only_with_news():
    box = Outbox()
    text = " ".join(f"w{i}" for i in range(300))
    writer = StreamWriter(box, interval=0.05)
    await writer.write(pieces_of(text, random.Random(1), pause=0.02), when_empty="…")
    times = [t for kind, _, t in box.log if kind == "edit"]
    assert len(times) >= 2
    assert all(b - a >= 0.049 for a, b in itertools.pairwise(times))
    versions = box.messages[0].versions
    assert len(set(versions)) == len(versions)  # never the same text twice
    assert versions[-1] == text


async def test_an_empty_stream_says_so_and_a_broken_one_ends_with_a_cut_mark():
    async def nothing() -> AsyncIterator[str]:
        for piece in ("", "  ", "\n"):
            yield piece

    box = Outbox()
    await StreamWriter(box).write(nothing(), when_empty="🤔 nothing")
    assert box.final() == ["🤔 nothing"]

    async def broken() -> AsyncIterator[str]:
        yield "The answer is"
        raise ConnectionResetError("LLM went away")

    box = Outbox()
    await StreamWriter(box, interval=0.0).write(broken(), when_empty="…")
    assert box.final() == ["The answer is …"]
