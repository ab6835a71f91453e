"""The chat commands over HTTP, derived from their definitions, and /chat through the router:
what each answers, what it refuses, and the limits API clients share with chat."""

from __future__ import annotations

import json

from fakes.llm import FakeLLM
from support.http import (  # noqa: F401 (fixtures)
    assert_openai_error,
    fake_fixture,
    make_settings,
    server_fixture,
    sse_events,
    start_fixture,
)


async def test_the_list_is_derived_from_the_definitions(server):
    status, _, raw = await server.request("GET", "/api/commands")
    assert status == 200
    commands = {c["name"]: c for c in json.loads(raw)["data"]}
    assert {"joke", "ask", "vote", "cachestats", "help"} <= set(commands)
    assert "mention" not in commands  # hidden: reached by mentioning the bot
    assert commands["ask"]["description"] == "Ask quipbot a question"
    assert commands["ask"]["args"] == [
        {
            "name": "question",
            "description": "Your question",
            "required": True,
            "choices": [],
            "max_chars": 4096,
        }
    ]
    assert commands["vote"]["args"][0]["choices"] == ["+1", "-1"]
    assert commands["cachestats"]["moderators_only"] is True


async def test_a_command_runs_through_the_router_and_says_what_served_it(start, fake):
    offline = await start(None)
    status, headers, raw = await offline.request("POST", "/api/commands/joke", json={})
    assert status == 200 and headers["X-Quipbot-Cache"] == "fallback"
    joke = json.loads(raw)
    assert joke["command"] == "joke" and joke["source"] == "fallback"
    assert len(joke["text"]) > 15 and len(joke["joke_id"]) == 12

    status, vote = await offline.post_json(
        "/api/commands/vote", {"vote": "+1", "joke": f"#{joke['joke_id']}"}
    )
    assert status == 200 and vote["text"] == "🗳️ Thanks anonymous! That joke is at +1."
    assert offline.app.stats.messages_in["http"] == 2

    server = await start(fake)
    status, answer = await server.post_json("/api/commands/ask", {"question": "Who wrote Hamlet?"})
    assert status == 200 and answer["source"] == "llm"
    assert answer["text"] == "Answer to: <viewer_message>\nWho wrote Hamlet?\n</viewer_message>"


async def test_bad_calls_get_a_clear_error(server):
    cases = [
        ("nope", {}, 404, "no such command"),
        ("cachestats", {}, 403, "for moderators"),
        ("vote", {"vote": "+2"}, 400, "vote must be one of +1, -1"),
        ("vote", {}, 400, "vote is required"),
        ("ask", {"question": "hi", "temperature": 2}, 400, "unknown field 'temperature'"),
        ("ask", {"question": 42}, 400, "question must be a string"),
        ("ask", {"question": "x" * 5000}, 413, "over 4096 characters"),
        ("ask", {"question": "hi", "conversation_id": "a b"}, 400, "conversation_id must be"),
    ]
    for name, body, status, message in cases:
        got, error = await server.post_json(f"/api/commands/{name}", body)
        assert got == status, (name, body, error)
        assert message in assert_openai_error(got, error)["message"], (name, body)
    assert server.fake.calls == 0  # nothing bad reached the LLM


async def test_chat_users_and_api_users_share_the_chat_limits(start, fake):
    server = await start(fake, enforce_limits=True)

    async def chat(user: str) -> tuple[int, dict[str, str], bytes]:
        return await server.request(
            "POST", "/chat", json={"prompt": "Who wrote Hamlet?"}, headers={"X-Quipbot-User": user}
        )

    first = await chat("ada")
    assert first[0] == 200 and sse_events(first[2])[-1] == "[DONE]"
    status, headers, raw = await chat("ada")  # within ada's 5 s cooldown for ask
    error = assert_openai_error(status, json.loads(raw))
    assert status == 429 and error["code"] == "rate_limit_exceeded"
    assert error["message"] == "⏳ ada, 5s before your next !ask."
    assert headers["Retry-After"] == "5"
    assert (await chat("grace"))[0] == 200  # per user, as in chat


async def test_chat_with_no_llm_says_the_ai_is_resting_through_the_router(start):
    server = await start(None)
    status, headers, raw = await server.request("POST", "/chat", json={"prompt": "hello?"})
    assert status == 200 and headers["X-Quipbot-Cache"] == "fallback"
    assert "taking a break" in sse_events(raw)[1]
    await server.app.store.flush()  # the chat log is written off the reply's path
    row = (await server.app.store.recent_logs(1))[0]
    assert (row["platform"], row["channel"], row["command"]) == ("http", "chat", "ask")


async def test_a_new_command_is_served_over_http_without_http_code(start):
    from commands.definition import Arg, Command, Context
    from commands.types import Reply

    async def shout(ctx: Context) -> Reply:
        return Reply(ctx.args.upper())

    async with FakeLLM(flavour="lmstudio") as fake:
        server = await start(fake)
        server.app.router.register([Command("shout", shout, args=(Arg("words"),))])
        status, body = await server.post_json("/api/commands/shout", {"words": "hey you"})
    assert status == 200 and body["text"] == "HEY YOU"
