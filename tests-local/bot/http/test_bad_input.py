"""Every kind of bad input gets a 4xx in OpenAI's error shape, with a clear message, and never
reaches the LLM (whose errors would count against the shared circuit breaker)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.http import (  # noqa: F401 (fixtures)
    MODEL,
    SECURITY,
    assert_openai_error,
    chat_body,
    fake_fixture,
    server_fixture,
    start_fixture,
)


def with_messages(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), **extra}


USER = {"role": "user", "content": "hi there"}

# (body, status, param, a word the message must contain)
CASES: list[tuple[Any, int, str | None, str]] = [
    ([1, 2], 400, None, "object"),
    ("text", 400, None, "object"),
    ({"messages": [USER]}, 400, "model", "model is required"),
    ({"model": 5, "messages": [USER]}, 400, "model", "model is required"),
    ({"model": "gpt-4o", "messages": [USER]}, 404, "model", MODEL),
    ({"model": MODEL}, 400, "messages", "required"),
    (with_messages(), 400, "messages", "empty"),
    ({"model": MODEL, "messages": "hi"}, 400, "messages", "array"),
    ({"model": MODEL, "messages": {"role": "user"}}, 400, "messages", "array"),
    (with_messages("hi"), 400, "messages[0]", "object"),
    (with_messages({"content": "hi"}), 400, "messages[0]", "role"),
    (with_messages({"role": 3, "content": "hi"}), 400, "messages[0]", "role"),
    (with_messages({"role": "wizard", "content": "hi"}), 400, "messages[0]", "unknown role"),
    (with_messages({"role": "tool", "content": "hi"}), 422, "messages[0]", "not supported"),
    (with_messages({"role": "user"}), 400, "messages[0]", "content is required"),
    (with_messages({"role": "user", "content": None}), 400, "messages[0]", "content"),
    (with_messages({"role": "user", "content": 42}), 400, "messages[0]", "string"),
    (with_messages({"role": "user", "content": [{"type": "text"}]}), 400, "messages[0]", "text"),
    (
        with_messages({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}),
        422,
        "messages[0]",
        "image_url",
    ),
    (with_messages({"role": "user", "content": "x", "extra": 1}), 400, "messages[0]", "extra"),
    (with_messages({"role": "user", "content": "x", "name": 7}), 400, "messages[0]", "name"),
    (
        with_messages({"role": "user", "content": "x", "tool_calls": []}),
        422,
        "messages[0]",
        "tool_calls",
    ),
    (with_messages(USER, {"role": "assistant", "content": "x"}), 422, "messages", "last"),
    (with_messages({"role": "user", "content": "\ud800"}), 400, "messages[0]", "Unicode"),
    (chat_body(temperature="hot"), 400, "temperature", "number"),
    (chat_body(temperature=True), 400, "temperature", "number"),
    (chat_body(temperature=3), 400, "temperature", "0 to 2"),
    (chat_body(max_tokens=0), 400, "max_tokens", "integer"),
    (chat_body(max_tokens=1.5), 400, "max_tokens", "integer"),
    (chat_body(max_tokens=10**6), 400, "max_tokens", "llm.max_tokens"),
    (chat_body(max_completion_tokens=-1), 400, "max_completion_tokens", "integer"),
    (chat_body(seed="7"), 400, "seed", "integer"),
    (chat_body(seed=2**70), 400, "seed", "64-bit"),
    (chat_body(stream="yes"), 400, "stream", "boolean"),
    (chat_body(stream_options=[]), 400, "stream_options", "object"),
    (chat_body(stream_options={"include_usage": 1}), 400, "stream_options", "boolean"),
    (chat_body(n=2), 422, "n", "not supported"),
    (chat_body(n="2"), 400, "n", "integer"),
    (chat_body(top_p=0.5), 422, "top_p", "not supported"),
    (chat_body(stop=["\n"]), 422, "stop", "not supported"),
    (chat_body(stop=5), 400, "stop", "string"),
    (chat_body(tools=[{"type": "function"}]), 422, "tools", "not supported"),
    (chat_body(response_format={"type": "json_object"}), 422, "response_format", "not"),
    (chat_body(user=12), 400, "user", "string"),
    (chat_body(user="u" * 300), 400, "user", "256"),
    (chat_body(frobnicate=True), 400, "frobnicate", "unrecognized"),
]


@pytest.mark.parametrize(("body", "status", "param", "word"), CASES)
async def test_bad_completion_bodies(server, body, status, param, word):
    got, headers, raw = await server.request("POST", "/v1/chat/completions", json=body)
    assert got == status, raw
    error = assert_openai_error(got, json.loads(raw))
    assert error["param"] == param
    assert word in error["message"]
    assert headers["Content-Type"].startswith("application/json")
    assert all(headers[name] == value for name, value in SECURITY.items())
    assert server.fake.calls == 0


async def test_neutral_values_of_unsupported_parameters_are_accepted(server):
    body = chat_body(
        top_p=1,
        n=1,
        stop=[],
        presence_penalty=0,
        frequency_penalty=0.0,
        tools=[],
        tool_choice="none",
        response_format={"type": "text"},
        logprobs=False,
        user="viewer-1",
        metadata={"a": "b"},
        store=False,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "you"}],
            },
        ],
    )
    status, _, raw = await server.request("POST", "/v1/chat/completions", json=body)
    assert status == 200, raw
    sent = server.fake.last_request.body["messages"]
    assert sent == [  # developer is sent as system; text parts are joined
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello you"},
    ]


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"model": NaN}', "not valid JSON"),
        (b'{"temperature": Infinity}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000, "nested"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "not valid JSON"),  # beyond int's digit limit
    ],
)
async def test_malformed_json(server, raw, word):
    status, _, body = await server.request("POST", "/v1/chat/completions", data=raw)
    assert status == 400
    assert word in assert_openai_error(status, json.loads(body))["message"]


async def test_huge_inputs_are_413(start, fake):
    server = await start(fake, max_body_kb=8, max_messages=3, max_input_chars=100)
    cases = [
        (chat_body("x" * 10_000), None, "8192 bytes"),
        (with_messages(USER, USER, USER, USER), "messages", "too many messages"),
        (chat_body("y" * 101), "messages", "at most 100"),
    ]
    for body, param, words in cases:
        status, _, raw = await server.request("POST", "/v1/chat/completions", json=body)
        assert status == 413, raw
        error = assert_openai_error(status, json.loads(raw))
        assert error["param"] == param and words in error["message"]
    assert fake.calls == 0


async def test_unknown_routes_methods_and_query(server):
    status, _, raw = await server.request("GET", "/v1/nothing")
    assert status == 404 and "/v1/nothing" in assert_openai_error(404, json.loads(raw))["message"]
    status, _, raw = await server.request("GET", "/v1/chat/completions")
    assert status == 405
    assert_openai_error(405, json.loads(raw))
    status, _, raw = await server.request("GET", "/v1/models/other")
    assert status == 404 and assert_openai_error(404, json.loads(raw))["code"] == "model_not_found"
    for limit in ("abc", "0", "100000", "-1", "²"):
        status, _, raw = await server.request("GET", f"/v1/logs?limit={limit}")
        assert status == 400 and assert_openai_error(400, json.loads(raw))["param"] == "limit"


async def test_bad_user_header(server):
    status, _, raw = await server.request(
        "POST",
        "/v1/chat/completions",
        json=chat_body(),
        headers={"X-Quipbot-User": "x" * 200},
    )
    assert status == 400 and "X-Quipbot-User" in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 400, "prompt"),
        ({"prompt": ""}, 400, "prompt"),
        ({"prompt": "   "}, 400, "prompt"),
        ({"prompt": 5}, 400, "prompt"),
        ({"prompt": "hi", "conversation_id": 5}, 400, "conversation_id"),
        ({"prompt": "hi", "conversation_id": "a b"}, 400, "conversation_id"),
        ({"prompt": "hi", "conversation_id": "x" * 65}, 400, "conversation_id"),
        ({"prompt": "hi", "other": 1}, 400, "other"),
        ({"prompt": "x" * 4097}, 413, "prompt"),
        (["hi"], 400, None),
    ],
)
async def test_bad_chat_bodies(server, body, status, param):
    got, _, raw = await server.request("POST", "/chat", json=body)
    assert got == status
    assert assert_openai_error(got, json.loads(raw))["param"] == param
    assert server.fake.calls == 0
