"""The Twitch chat rules on their own: sanitising, splitting, roles, mentions, pacing, the
duplicate guard and the outbox's bookkeeping (no network: a recording ``send``)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fakes.twitch import VirtualClock

from bot.twitch.outbox import (
    ChannelOutbox,
    Outgoing,
    Pacer,
    RecentMessages,
    SendResult,
)
from bot.twitch.text import chat_parts, mention_question, roles_from_badges, safe_part
from commands.types import Role

# ------------------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("hello", "hello"),
        ("/ban someone", "ban someone"),
        (".timeout someone 60", "timeout someone 60"),
        ("  / . //ban x", "ban x"),
        ("\u200b/ban x", "ban x"),
        ("\u202e/ban x\u202c", "ban x"),
        ("a\nb\r\nc\td", "a b c d"),
        ("bell\x07 and \x1b[31mred", "bell and [31mred"),
        ("emoji 🎉 and accents é ü", "emoji 🎉 and accents é ü"),
        ("say /ban x in the middle", "say /ban x in the middle"),
        ("   ", ""),
        ("/", ""),
    ],
)
def test_safe_part(raw: str, safe: str) -> None:
    assert safe_part(raw) == safe


def test_only_the_bot_chooses_me() -> None:
    assert safe_part("/me dances") == "me dances"
    assert safe_part("dances", action=True) == "/me dances"
    assert safe_part("/ban x", action=True) == "/me ban x"
    assert safe_part(" ", action=True) == ""


def test_short_text_is_one_part() -> None:
    assert chat_parts("x" * 500) == ["x" * 500]
    assert chat_parts("") == []
    assert chat_parts("\n \x00 ") == []


def test_long_text_splits_at_words_into_two_parts_and_cuts_the_rest() -> None:
    words = [f"w{i:04d}" for i in range(300)]  # 5 chars each, 6 with the space
    first, second = chat_parts(" ".join(words))
    assert len(first) <= 500 and len(second) <= 500 and second.endswith("…")
    sent = first.split() + second.removesuffix("…").split()
    assert sent == words[: len(sent)]
    assert len(first) == 83 * 6 - 1  # as many whole words as fit
    assert len(chat_parts(" ".join(words[:100]))) == 2  # 599 chars: no cut
    assert not chat_parts(" ".join(words[:100]))[1].endswith("…")


def test_one_giant_word_is_cut_hard() -> None:
    first, second = chat_parts("y" * 1200)
    assert first == "y" * 500 and second == "y" * 499 + "…"


def test_a_part_never_starts_with_a_command_even_after_the_split() -> None:
    text = "a" * 499 + " /ban everyone and more"
    first, second = chat_parts(text)
    assert first == "a" * 499 and second == "ban everyone and more"


def test_roles_from_badges() -> None:
    assert roles_from_badges([]) == {Role.VIEWER}
    assert roles_from_badges(["subscriber", "premium"]) == {Role.VIEWER, Role.SUBSCRIBER}
    assert roles_from_badges(["founder"]) == {Role.VIEWER, Role.SUBSCRIBER}
    assert roles_from_badges(["vip"]) == {Role.VIEWER, Role.VIP}
    assert Role.MODERATOR in roles_from_badges(["lead_moderator"])
    assert Role.MODERATOR in roles_from_badges(["moderator", "subscriber"])
    assert Role.BROADCASTER in roles_from_badges(["broadcaster"])
    assert Role.BROADCASTER in roles_from_badges([], is_broadcaster=True)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("@quipbot what is love?", "what is love?"),
        ("@QuipBot, what is love?", "what is love?"),
        ("@QUIPBOT: hi", "hi"),
        ("@quipbot", ""),
        ("@quipbot   ", ""),
        ("@quipbotfan hi", None),
        ("@quipbot_2 hi", None),
        ("hi @quipbot", None),
        ("!ask @quipbot", None),
        ("@quip hi", None),
        ("", None),
    ],
)
def test_mention_question(text: str, question: str | None) -> None:
    assert mention_question(text, "quipbot") == question
    assert mention_question(text, "") is None


# ------------------------------------------------------------------------------ pacing


def test_pacer_is_a_sliding_window(clock) -> None:
    pacer = Pacer(limit=3, window=30, clock=clock)
    for _ in range(3):
        assert pacer.wait_time() == 0
        pacer.record()
        clock.advance(1)
    assert pacer.wait_time() == 27  # the first send leaves the window at t=30
    clock.advance(27)
    assert pacer.wait_time() == 0
    pacer.record()
    assert pacer.wait_time() == 1  # the second send, at t=1, leaves at t=31
    pacer.limit = 1  # the bot lost its moderator badge
    assert pacer.wait_time() == 30


def test_recent_messages_forget_after_the_window(clock) -> None:
    recent = RecentMessages(window=30, clock=clock)
    recent.record("hi")
    clock.advance(29.9)
    assert recent.seen("hi") and not recent.seen("ho")
    clock.advance(0.2)
    assert not recent.seen("hi")
    recent.record("ho")
    assert "hi" not in recent._sent  # old entries are pruned, not kept forever


class Recorder:
    """A ``send`` that records what the outbox sends and answers from a script."""

    def __init__(self, *results: SendResult) -> None:
        self.sent: list[tuple[str, Outgoing]] = []
        self.results = list(results)

    async def __call__(self, text: str, item: Outgoing) -> SendResult:
        self.sent.append((text, item))
        return self.results.pop(0) if self.results else SendResult(True)


async def drain(box: ChannelOutbox, clock: VirtualClock) -> None:
    async with asyncio.timeout(5):
        while not box.idle:
            clock.advance_to_next_wakeup()
            await asyncio.sleep(0.001)


async def test_retries_a_passing_failure_and_drops_a_refusal_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    send = Recorder(
        SendResult(False, "Twitch answered 503", retry_after=2.0),
        SendResult(False, "Twitch refused it (400: bad parent)"),
    )
    box = ChannelOutbox("chan", send, clock=clock, sleep=clock.sleep)

    with caplog.at_level(logging.WARNING):
        box.put(["first", "second"], reply_to="m1", mention="alice")
        await drain(box, clock)
    assert [text for text, _ in send.sent] == ["first", "first", "second"]
    assert box.sent == 1 and box.dropped == {"refused": 1}
    assert caplog.messages == [
        "twitch #chan: dropped a reply to alice (refused: Twitch refused it (400: bad parent)): "
        "'first'"
    ]


async def test_a_message_queued_too_long_is_dropped_as_stale(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    send = Recorder(SendResult(False, "Twitch answered 500", retry_after=31.0))
    box = ChannelOutbox("chan", send, clock=clock, sleep=clock.sleep, stale_after_s=30)

    with caplog.at_level(logging.WARNING):
        box.put(["late"], reply_to="m1", mention="bob")
        async with asyncio.timeout(5):
            while clock.next_wakeup is None:  # sent once, failed, waits to retry
                await asyncio.sleep(0.001)
        clock.advance(5)
        box.put(["later"], reply_to="m2", mention="bob")
        await drain(box, clock)
    assert [text for text, _ in send.sent] == ["late", "later"]
    assert box.dropped == {"stale": 1} and box.sent == 1
    assert caplog.messages == [
        "twitch #chan: dropped a reply to bob (stale: queued 31s ago): 'late'"
    ]


async def test_the_queue_is_bounded_and_says_what_it_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    send = Recorder()
    box = ChannelOutbox("chan", send, clock=clock, sleep=clock.sleep, max_queue=2)

    with caplog.at_level(logging.WARNING):
        box.put(["one", "two", "three"], reply_to=None, mention="c")
        await drain(box, clock)
    assert [text for text, _ in send.sent] == ["two", "three"]
    assert box.dropped == {"queue full": 1}
    assert "(queue full): 'one'" in caplog.text


async def test_a_failing_send_function_does_not_stall_the_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    calls: list[str] = []

    async def broken_then_fine(text: str, item: Outgoing) -> SendResult:
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return SendResult(True)

    box = ChannelOutbox("chan", broken_then_fine, clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING):
        box.put(["first", "second"], reply_to=None, mention="e")
        await drain(box, clock)
    assert calls == ["first", "second"] and box.sent == 1 and box.dropped == {"error": 1}
    assert "sending failed unexpectedly" in caplog.text


async def test_becoming_a_moderator_wakes_a_waiting_outbox() -> None:
    clock = VirtualClock()
    send = Recorder()
    box = ChannelOutbox("chan", send, clock=clock, sleep=clock.sleep)
    box.put([f"m{i}" for i in range(25)], reply_to=None, mention="d")
    async with asyncio.timeout(5):
        while len(send.sent) < 20 or clock.next_wakeup is None:
            await asyncio.sleep(0.001)
    assert len(send.sent) == 20  # waiting for the 30-second window

    box.moderator = True  # learned from the badge on the bot's echo
    async with asyncio.timeout(5):
        while not box.idle:
            await asyncio.sleep(0.001)
    assert len(send.sent) == 25 and clock.now == 1000.0  # at once, no time passed
    await box.aclose()
