"""Property-based fuzz of request bodies: whatever arrives, no 5xx, every error in OpenAI's shape,
and the server stays up."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.http import (  # noqa: F401 (fixtures)
    MODEL,
    assert_openai_error,
    fake_fixture,
    server_fixture,
    start_fixture,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "wizard", ""])
contents = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": st.text()}),
        max_size=3,
    ),
    json_values,
)
messages = st.lists(
    st.fixed_dictionaries({"role": roles | json_values, "content": contents})
    | st.dictionaries(st.sampled_from(["role", "content", "name", "x"]), json_values),
    max_size=4,
)
# Near-valid bodies reach deep into validation; arbitrary JSON and bytes test the edges.
near_valid = st.fixed_dictionaries(
    {"model": st.sampled_from([MODEL, "other"]) | json_values, "messages": messages},
    optional={
        "stream": st.booleans() | json_values,
        "temperature": st.floats(-1, 3) | json_values,
        "max_tokens": st.integers(-5, 500) | json_values,
        "seed": st.integers() | json_values,
        "n": st.integers(0, 3),
        "top_p": st.floats(0, 1),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
        "user": st.text(max_size=10) | json_values,
        "tools": json_values,
    },
)
# Valid by construction, so the answer path (plain and streamed) is fuzzed too.
valid = st.fixed_dictionaries(
    {
        "model": st.just(MODEL),
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text()}
            ),
            max_size=3,
        ).map(lambda history: [*history, {"role": "user", "content": "a question"}]),
    },
    optional={
        "stream": st.booleans(),
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 300),
        "seed": st.integers(-(2**63), 2**63 - 1),
    },
)
bodies = st.one_of(
    valid.map(lambda body: json.dumps(body).encode()),
    near_valid.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


async def check(server, path: str, raw: bytes) -> None:
    status, headers, body = await server.request("POST", path, data=raw)
    assert status < 500, (status, raw, body)
    if status >= 400:
        assert_openai_error(status, json.loads(body))
    elif headers["Content-Type"].startswith("application/json"):
        answer: Any = json.loads(body)
        assert answer["object"] == "chat.completion"
    else:
        assert body.endswith(b"data: [DONE]\n\n")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=bodies)
async def test_fuzzed_completion_bodies(server, raw):
    await check(server, "/v1/chat/completions", raw)
    status, _, _ = await server.request("GET", "/health", auth=False)
    assert status == 200


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.one_of(
        st.fixed_dictionaries(
            {"prompt": st.text(min_size=1, max_size=30) | json_values},
            optional={"conversation_id": st.text(max_size=70) | json_values},
        ).map(lambda body: json.dumps(body).encode()),
        st.binary(max_size=100),
    )
)
async def test_fuzzed_chat_bodies(server, raw):
    await check(server, "/chat", raw)
