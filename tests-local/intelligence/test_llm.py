"""The LLM client against the fake OpenAI-compatible server: streams, retries, errors."""

from __future__ import annotations

import json
import random

import pytest
from fakes.llm import FakeLLM

from config.settings import BackendSettings
from intelligence.llm import (
    ChatRequest,
    LLMClient,
    LLMConnectionError,
    LLMHung,
    LLMRateLimited,
    LLMRequestError,
    LLMServerError,
    LLMStreamError,
)

QUESTION = ChatRequest([{"role": "user", "content": "why is the sky blue"}])


class Waits(list[float]):
    """The client's sleep between retries: notes how long it would wait, and waits not."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(fake: FakeLLM, provider: str, waits: Waits | None = None, **overrides) -> LLMClient:
    backend = BackendSettings(
        provider=provider,
        base_url=fake.base_url,
        api_key=overrides.pop("api_key", "sk-test-key"),
        timeout_s=overrides.pop("timeout_s", 10),
        **overrides,
    )
    return LLMClient(
        backend, name=provider, rng=random.Random(0), sleep=Waits() if waits is None else waits
    )


@pytest.fixture
async def mistral():
    async with FakeLLM(flavour="mistral", api_key="sk-test-key") as fake:
        yield fake


@pytest.fixture
async def lmstudio():
    async with FakeLLM(flavour="lmstudio") as fake:
        yield fake


async def collect(client: LLMClient, request: ChatRequest = QUESTION):
    stream = client.stream(request)
    try:
        pieces = [piece async for piece in stream]
    finally:
        await client.aclose()
    return pieces, stream


async def test_mistral_stream_sends_only_accepted_keys_and_reads_final_usage(mistral):
    client = client_for(mistral, "mistral")
    pieces, stream = await collect(client, ChatRequest(QUESTION.messages, seed=7, n=1))
    assert "".join(pieces) == "Answer to: why is the sky blue"
    assert len(pieces) > 1
    body = mistral.last_request.body
    assert body["random_seed"] == 7 and "seed" not in body and "stream_options" not in body
    assert body["stream"] is True and body["model"] == "mistral-small-latest"
    assert mistral.last_request.headers["Authorization"] == "Bearer sk-test-key"
    assert stream.usage is not None and not stream.usage.estimated


async def test_lmstudio_stream_without_usage_gets_an_estimate(lmstudio):
    pieces, stream = await collect(client_for(lmstudio, "lmstudio", api_key=""))
    assert "".join(pieces) == "Answer to: why is the sky blue"
    assert stream.usage.estimated and stream.usage.completion_tokens > 0
    assert "Authorization" not in lmstudio.last_request.headers


@pytest.mark.parametrize(
    "knobs",
    [
        {"line_ending": "\r\n"},
        {"comments": True},
        {"multiline_data": True},
        {"content_as_list": True},
        {"role_only_first_chunk": True},
        {"chunk_chars": 1},
        {"line_ending": "\r\n", "comments": True, "multiline_data": True, "content_as_list": True},
    ],
)
async def test_sse_edge_cases(mistral, knobs):
    for key, value in knobs.items():
        setattr(mistral, key, value)
    pieces, _ = await collect(client_for(mistral, "mistral"))
    assert "".join(pieces) == "Answer to: why is the sky blue"


async def test_non_stream_completion_with_several_choices(mistral):
    client = client_for(mistral, "mistral")
    completion = await client.complete(ChatRequest(QUESTION.messages, n=3))
    await client.aclose()
    assert len(completion.texts) == 3 and len(set(completion.texts)) == 3
    assert completion.usage.completion_tokens > 0 and not completion.usage.estimated


async def test_strict_mistral_would_reject_openai_only_keys(mistral):
    """The fake is as strict as Mistral: prove that an OpenAI-style body fails there."""
    client = client_for(mistral, "openai")  # the openai profile adds stream_options and seed
    with pytest.raises(LLMRequestError) as info:
        await collect(client, ChatRequest(QUESTION.messages, seed=1))
    assert info.value.status == 422 and "HTTP 422" in str(info.value)
    assert mistral.calls == 1  # a 422 is not retried


async def test_retry_on_5xx_then_success(lmstudio):
    lmstudio.fail_next(status=503, times=2, shape="string")
    waits = Waits()
    pieces, _ = await collect(client_for(lmstudio, "lmstudio", waits))
    assert "".join(pieces).startswith("Answer to:")
    assert lmstudio.calls == 3
    # Exponential backoff with jitter: 0.5 s then 1 s, each times 0.5-1.
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


async def test_429_honours_retry_after(mistral):
    mistral.rate_limit_next(retry_after=3)  # longer than any backoff of a first retry
    waits = Waits()
    pieces, _ = await collect(client_for(mistral, "mistral", waits))
    assert pieces and mistral.calls == 2
    assert waits == [3]


async def test_429_with_retry_after_beyond_the_deadline_gives_up_at_once(mistral):
    mistral.rate_limit_next(retry_after=60)
    with pytest.raises(LLMRateLimited) as info:
        await collect(client_for(mistral, "mistral", timeout_s=2))
    assert info.value.retry_after == pytest.approx(60, abs=1)
    assert mistral.calls == 1


async def test_retries_give_up_after_the_limit(lmstudio):
    lmstudio.fail_next(status=500, times=5)
    waits = Waits()
    with pytest.raises(LLMServerError):
        await collect(client_for(lmstudio, "lmstudio", waits))
    assert lmstudio.calls == 3  # the first try and two retries
    assert len(waits) == 2


async def test_drop_before_any_content_is_retried(mistral):
    mistral.drop_stream_after(chunks=0)
    pieces, _ = await collect(client_for(mistral, "mistral"))
    assert "".join(pieces) == "Answer to: why is the sky blue" and mistral.calls == 2


async def test_no_retry_after_something_was_emitted(mistral):
    mistral.chunk_chars = 3
    mistral.token_delay_s = 0.05  # the pieces reach the client before the connection drops
    mistral.drop_stream_after(chunks=2)
    client = client_for(mistral, "mistral")
    received = []
    with pytest.raises(LLMStreamError):
        async for piece in client.stream(QUESTION):
            received.append(piece)
    await client.aclose()
    assert "".join(received) == "Answer to: why is the sky blue"[:6]
    assert mistral.calls == 1


@pytest.mark.parametrize("shape", ["object", "string", "mistral", "text"])
async def test_both_error_shapes_become_clear_messages(lmstudio, shape):
    lmstudio.fail_next(status=400, shape=shape, message="model is not loaded")
    with pytest.raises(LLMRequestError) as info:
        await collect(client_for(lmstudio, "lmstudio"))
    message = str(info.value)
    assert message.startswith("lmstudio: HTTP 400: ")
    assert "model is not loaded" in message or shape == "text"
    assert "{" not in message or shape == "mistral"


async def test_wrong_key_is_explained(mistral):
    with pytest.raises(LLMRequestError) as info:
        await collect(client_for(mistral, "mistral", api_key="sk-wrong-key-123"))
    assert info.value.status == 401 and "check llm.api_key" in str(info.value)
    assert "sk-wrong-key-123" not in str(info.value)


async def test_connection_refused_is_a_connection_error():
    async with FakeLLM() as fake:
        pass  # stopped: nothing listens on its port any more
    with pytest.raises(LLMConnectionError) as info:
        await collect(client_for(fake, "mistral", connect_timeout_s=1))
    assert "cannot reach" in str(info.value)


async def test_first_byte_timeout_is_a_hang_not_retried(lmstudio):
    lmstudio.hang_next(seconds=5, times=5)
    client = client_for(lmstudio, "lmstudio", first_byte_timeout_s=0.1, timeout_s=2)
    with pytest.raises(LLMHung) as info:
        await collect(client)
    assert "sent nothing in 0.1 s (llm.first_byte_timeout_s)" in str(info.value)
    assert lmstudio.calls == 1  # asking again would only hang again


async def test_a_hung_llm_opens_its_breaker_at_once(lmstudio):
    from intelligence.resilience import CircuitBreaker, Flight, LLMPool, NoBackendAvailable
    from intelligence.stats import Stats

    lmstudio.hang_next(seconds=5, times=5)
    breaker = CircuitBreaker(failures=5, reset_s=60)
    pool = LLMPool([(client_for(lmstudio, "lmstudio", first_byte_timeout_s=0.1), breaker)], Stats())
    with pytest.raises(NoBackendAvailable):
        await pool.fill(ChatRequest([{"role": "user", "content": "hi"}]), Flight())
    assert not pool.available()  # the next viewers get the offline answer, no wait


async def test_total_timeout_mid_stream(lmstudio):
    lmstudio.token_delay_s = 0.1
    lmstudio.chunk_chars = 2
    client = client_for(lmstudio, "lmstudio", timeout_s=0.5)
    with pytest.raises(LLMStreamError):
        await collect(client)


async def test_list_models(lmstudio):
    lmstudio.models = ["qwen2.5-7b", "llama-3.1-8b"]
    client = client_for(lmstudio, "lmstudio")
    assert await client.list_models() == ["qwen2.5-7b", "llama-3.1-8b"]
    await client.aclose()


def test_repr_hides_the_key():
    client = LLMClient(BackendSettings(provider="mistral", api_key="sk-secret-value"))
    assert "sk-secret-value" not in repr(client)
    assert json.dumps(client.request_body(QUESTION, stream=True))  # serialisable


async def test_a_key_echoed_in_an_error_body_is_redacted(mistral):
    mistral.fail_next(status=400, message="invalid key sk-test-key for this model")
    with pytest.raises(LLMRequestError) as info:
        await collect(client_for(mistral, "mistral"))
    assert "sk-test-key" not in str(info.value) and "[redacted]" in str(info.value)


@pytest.mark.parametrize(
    ("event", "stream"),
    [
        ({"choices": 5}, True),
        ({"choices": [None]}, True),
        ({"choices": [{"index": 0, "delta": "x"}]}, True),
        ({"choices": 5}, False),
        ({"choices": [None]}, False),
        ({"choices": [{"index": 0, "message": ["not", "an", "object"]}]}, False),
    ],
)
async def test_a_malformed_answer_is_a_typed_error_not_a_crash(lmstudio, event, stream, caplog):
    from intelligence.llm import LLMMalformedError

    lmstudio.malformed_next(event)
    client = client_for(lmstudio, "lmstudio")
    with pytest.raises(LLMMalformedError, match=r"lmstudio: malformed answer: \w+ is"):
        if stream:
            await collect(client)
        else:
            try:
                await client.complete(QUESTION)
            finally:
                await client.aclose()
    assert lmstudio.calls == 1  # the same server would say the same again: no retry
    assert "Traceback" not in caplog.text


async def test_a_malformed_event_mid_answer_breaks_the_stream_as_usual(lmstudio):
    ok = {"choices": [{"index": 0, "delta": {"content": "Paris "}}]}
    lmstudio.malformed_next(ok, {"choices": [{"index": 0, "delta": "is"}]})
    with pytest.raises(LLMStreamError, match="malformed answer: delta is str"):
        await collect(client_for(lmstudio, "lmstudio"))


async def test_an_answer_is_read_no_further_than_its_byte_cap(lmstudio):
    lmstudio.reply = "word " * 50_000  # 250 kB
    client = client_for(lmstudio, "lmstudio", max_answer_bytes=4096, max_tokens=32_000)
    pieces, _ = await collect(client)
    assert 4096 - 100 < len("".join(pieces).encode()) <= 4096

    from intelligence.llm import LLMMalformedError

    client = client_for(lmstudio, "lmstudio", max_answer_bytes=4096, max_tokens=32_000)
    with pytest.raises(LLMMalformedError, match="over 20480 bytes"):
        try:
            await client.complete(QUESTION)
        finally:
            await client.aclose()
