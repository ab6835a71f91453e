"""/v1 through the official ``openai`` client: the shapes it parses are the shapes we send."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai import AsyncOpenAI
from support.http import (  # noqa: F401 (fixtures)
    KEY,
    LLM_KEY,
    MODEL,
    assert_openai_error,
    chat_body,
    fake_fixture,
    server_fixture,
    sse_events,
    start_fixture,
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
async def client():
    """``client(server, key=KEY)`` → an AsyncOpenAI on the server; all closed after the test."""
    made: list[AsyncOpenAI] = []

    def make(server, key: str = KEY) -> AsyncOpenAI:
        made.append(AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0))
        return made[-1]

    yield make
    for api in made:
        await api.close()


async def test_non_stream_answer_with_usage(server, client):
    completion = await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Answer to: What is the capital of France?"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert server.fake.calls == 1
    sent = server.fake.last_request.body
    assert sent["messages"] == QUESTION and sent["model"] == MODEL


async def test_second_identical_call_is_served_by_l1(server, client):
    api = client(server).chat.completions.with_raw_response
    first = await api.create(model=MODEL, messages=QUESTION)
    second = await api.create(model=MODEL, messages=QUESTION)
    assert first.headers["X-Quipbot-Cache"] == "llm"
    assert second.headers["X-Quipbot-Cache"] == "l1"
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.parse().usage.total_tokens == first.parse().usage.total_tokens
    paraphrase = await api.create(
        model=MODEL, messages=[{"role": "user", "content": "tell me the capital of France please"}]
    )
    assert paraphrase.headers["X-Quipbot-Cache"] == "fuzzy"
    assert server.fake.calls == 1


async def test_stream_then_replay_from_cache_sharing_one_entry(server, client):
    api = client(server)
    for expected in ("llm", "l1"):
        raw = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["X-Quipbot-Cache"] == expected
        assert raw.headers["Content-Type"].startswith("text/event-stream")
        chunks = [chunk async for chunk in raw.parse()]
        assert chunks[0].choices[0].delta.role == "assistant"
        assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Answer to: What is the capital of France?"
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    plain = await api.chat.completions.with_raw_response.create(model=MODEL, messages=QUESTION)
    assert plain.headers["X-Quipbot-Cache"] == "l1"
    assert server.fake.calls == 1  # one entry for the streamed and the plain form


async def test_stream_without_include_usage_has_no_usage_field(server, client):
    status, _, raw = await server.request(
        "POST", "/v1/chat/completions", json=chat_body(stream=True)
    )
    assert status == 200
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_wrong_key_is_an_authentication_error(server, client):
    with pytest.raises(openai.AuthenticationError) as caught:
        await client(server, key="wrong").chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert KEY not in str(caught.value.body)
    assert server.fake.calls == 0


async def test_errors_come_in_openai_shape(server, client):
    with pytest.raises(openai.NotFoundError) as caught:
        await client(server).chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert caught.value.code == "model_not_found" and MODEL in caught.value.message
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await client(server).chat.completions.create(model=MODEL, messages=QUESTION, top_p=0.5)
    assert caught.value.param == "top_p"
    assert server.fake.calls == 0


async def test_llm_failure_is_502_then_open_breaker_is_503(server, client):
    # A refused key is not retried and is the backend's fault (a 400 would be the request's,
    # and would not open the breaker), so it fails at once and counts.
    server.fake.fail_next(401)
    with pytest.raises(openai.InternalServerError) as caught:
        await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_error"
    with pytest.raises(openai.InternalServerError) as caught:  # breaker_failures = 1
        await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 503 and caught.value.code == "llm_unavailable"
    assert caught.value.response.headers["Retry-After"] == "60"
    assert server.fake.calls == 1


async def test_cached_answer_still_served_while_llm_is_down(server, client):
    await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    await server.fake.stop()
    raw = await client(server).chat.completions.with_raw_response.create(
        model=MODEL, messages=QUESTION
    )
    assert raw.headers["X-Quipbot-Cache"] == "l1"


async def test_no_cache_header_asks_the_llm_again(server, client):
    api = client(server).chat.completions.with_raw_response
    await api.create(model=MODEL, messages=QUESTION)
    fresh = await api.create(
        model=MODEL, messages=QUESTION, extra_headers={"Cache-Control": "no-cache"}
    )
    assert fresh.headers["X-Quipbot-Cache"] == "llm"
    assert server.fake.calls == 2


async def test_key_holds_messages_and_parameters(server, client):
    api = client(server).chat.completions.with_raw_response
    system = {"role": "system", "content": "Answer in French."}
    convo = [system, {"role": "user", "content": "Spell ABC"}]
    assert (await api.create(model=MODEL, messages=convo)).headers["X-Quipbot-Cache"] == "llm"
    assert (await api.create(model=MODEL, messages=convo)).headers["X-Quipbot-Cache"] == "l1"
    lower = [system, {"role": "user", "content": "spell abc"}]  # exact-only: case counts here
    assert (await api.create(model=MODEL, messages=lower)).headers["X-Quipbot-Cache"] == "llm"
    hot = await api.create(model=MODEL, messages=convo, temperature=0.1)
    assert hot.headers["X-Quipbot-Cache"] == "llm"
    assert server.fake.last_request.body["temperature"] == 0.1
    seeded = await api.create(model=MODEL, messages=convo, seed=7, max_tokens=50)
    assert seeded.headers["X-Quipbot-Cache"] == "llm"
    assert server.fake.last_request.body["seed"] == 7
    assert server.fake.last_request.body["max_tokens"] == 50
    assert server.fake.calls == 4


async def test_concurrent_identical_requests_share_one_llm_call(server, client):
    server.fake.latency_s = 0.3
    api = client(server).chat.completions

    async def streamed() -> str:
        stream = await api.create(model=MODEL, messages=QUESTION, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def plain() -> str:
        return (await api.create(model=MODEL, messages=QUESTION)).choices[0].message.content

    answers = await asyncio.gather(*(streamed() if i % 2 else plain() for i in range(6)))
    assert set(answers) == {"Answer to: What is the capital of France?"}
    assert server.fake.calls == 1
    assert server.app.stats.saved_calls == 5


async def test_secrets_are_redacted_from_answers(server, client):
    server.fake.reply = f"keys: {KEY} and {LLM_KEY} ok"
    completion = await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert completion.choices[0].message.content == "keys: [redacted] and [redacted] ok"
    stream = await client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "another question here"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "keys: [redacted] and [redacted] ok"


async def test_stream_broken_mid_answer_ends_with_an_error_event(server, client):
    server.fake.reply = "one two three four five six seven eight nine ten"
    server.fake.token_delay_s = 0.05  # so the first pieces reach us before the drop
    server.fake.drop_stream_after(chunks=2)
    status, _, raw = await server.request(
        "POST", "/v1/chat/completions", json=chat_body(stream=True)
    )
    assert status == 200
    events = sse_events(raw)
    assert "[DONE]" not in events
    error = json.loads(events[-1])
    assert assert_openai_error(502, error)["code"] == "upstream_error"
    assert "127.0.0.1" not in events[-1]  # upstream details stay in the log
    assert server.app.cache.sizes()["l1"] == 0  # the broken answer was not cached


async def test_models_and_logs(server, client):
    models = await client(server).models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert (await client(server).models.retrieve(MODEL)).id == MODEL
    api = client(server).chat.completions
    await api.create(model=MODEL, messages=QUESTION, extra_headers={"X-Quipbot-User": "overlay"})
    await api.create(model=MODEL, messages=QUESTION, user="body-user")
    status, _, raw = await server.request("GET", "/v1/logs?limit=2")
    assert status == 200
    rows = json.loads(raw)["data"]
    assert [(r["user_id"], r["tier"]) for r in rows] == [("body-user", "l1"), ("overlay", "llm")]
    assert rows[1]["prompt"] == QUESTION[0]["content"]
    assert rows[1]["answer"] == "Answer to: What is the capital of France?"
    assert rows[1]["platform"] == "http" and rows[1]["tokens_out"] > 0


async def test_a_malformed_llm_answer_is_a_502_not_a_500(server, client):
    server.fake.malformed_next({"choices": [None]})
    with pytest.raises(openai.InternalServerError) as caught:
        await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_error"


async def test_without_http_moderate_the_api_is_a_faithful_pass_through(server, client):
    server.fake.reply = "Honestly? What a fucking great question: Paris."
    completion = await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert completion.choices[0].message.content == server.fake.reply
    assert completion.choices[0].finish_reason == "stop"


async def test_with_http_moderate_the_gate_filters_questions_and_answers(start, fake, client):
    server = await start(fake, moderate=True)
    rude = [{"role": "user", "content": "Answer me, you fucking moron."}]
    with pytest.raises(openai.BadRequestError) as caught:
        await client(server).chat.completions.create(model=MODEL, messages=rude)
    assert caught.value.code == "content_filter" and fake.calls == 0

    fake.reply = "Honestly? What a fucking great question: Paris."
    plain = await client(server).chat.completions.create(model=MODEL, messages=QUESTION)
    assert plain.choices[0].finish_reason == "content_filter"
    assert plain.choices[0].message.content == ""
    stream = await client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "And Italy?"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "fucking" not in text
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert server.app.stats.blocked[("input", "banphrase")] == 1
