"""POST /chat: the bot's answer as SSE, with a session per conversation."""

from __future__ import annotations

import json

from fakes.llm import FakeLLM
from support.http import (  # noqa: F401 (fixtures)
    fake_fixture,
    server_fixture,
    sse_events,
    start_fixture,
)


def question_of(body: dict) -> str:
    """The fake's view: the viewer's question inside the framing tags of the last message."""
    return body["messages"][-1]["content"].split("\n")[1]


async def chat(server, prompt: str, conversation: str | None = None):
    body = {"prompt": prompt}
    if conversation is not None:
        body["conversation_id"] = conversation
    status, headers, raw = await server.request("POST", "/chat", json=body)
    assert status == 200, raw
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    assert parsed[0]["type"] == "start" and parsed[-1]["type"] == "end"
    text = "".join(e["text"] for e in parsed if e["type"] == "delta")
    return headers, parsed, text


async def test_chat_streams_and_keeps_the_conversation(start):
    async with FakeLLM(flavour="lmstudio", reply=lambda b: f"A: {question_of(b)}") as llm:
        server = await start(llm)
        headers, events, text = await chat(server, "Who wrote Hamlet?")
        assert headers["Content-Type"].startswith("text/event-stream")
        assert headers["X-Quipbot-Cache"] == events[0]["source"] == "llm"
        conversation = events[0]["conversation_id"]
        assert headers["X-Quipbot-Conversation"] == conversation
        assert text == "A: Who wrote Hamlet?"
        assert events[-1]["usage"]["completion_tokens"] > 0

        _, _, follow_up = await chat(server, "When was he born?", conversation)
        assert follow_up == "A: When was he born?"
        sent = [m["content"] for m in llm.last_request.body["messages"]]
        assert any("Who wrote Hamlet?" in m for m in sent)  # the earlier turn went along
        assert "A: Who wrote Hamlet?" in sent

        # Another conversation asking the first question is served from the cache, alone.
        headers, events, text = await chat(server, "Who wrote Hamlet?")
        assert headers["X-Quipbot-Cache"] == "l1" and text == "A: Who wrote Hamlet?"
        assert events[0]["conversation_id"] != conversation
        assert llm.calls == 2


async def test_chat_says_the_ai_is_resting_when_no_llm(start):
    server = await start(None)  # the offline backend: no LLM at all
    headers, _, text = await chat(server, "Why is the sky blue?", "c1")
    assert headers["X-Quipbot-Cache"] == "fallback"
    assert "AI is taking a break" in text


async def test_chat_turns_are_logged(server):
    await chat(server, "What is a quasar?", "conv-1")
    status, _, raw = await server.request("GET", "/v1/logs?limit=1")
    assert status == 200
    row = json.loads(raw)["data"][0]
    assert (row["channel"], row["command"], row["prompt"]) == ("chat", "ask", "What is a quasar?")
    assert row["tier"] == "llm" and row["answer"]


async def test_an_answer_the_gate_stops_ends_with_a_replace_event(start):
    async with FakeLLM(flavour="lmstudio", reply="Sure thing, you absolute asshole.") as llm:
        server = await start(llm)
        _, events, text = await chat(server, "Say something nice")
    assert "asshole" not in text
    assert {"type": "replace", "text": "🤐 I'd rather not answer that."} in events
    assert events[-1]["type"] == "end"
