"""Tests for the fake LLM server itself, driven by a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from support import TESTS

from fakes.llm import FakeLLM

KEY = "sk-test"


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def parse_sse(raw: bytes) -> list[str]:
    """A spec-following SSE parser: any line ending, comments, multi-line data fields."""
    events: list[str] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", raw.decode()):
        if line == "":
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return events


def chunks_of(events: list[str]) -> list[dict[str, Any]]:
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part["text"] for part in content)
    return content or ""


def streamed_text(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        text_of(c["choices"][0]["delta"].get("content"))
        for c in chunks
        if c["choices"][0]["index"] == index
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def mistral() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(flavour="mistral", api_key=KEY) as fake:
        yield fake


@pytest.fixture
async def lmstudio() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(flavour="lmstudio", models=["qwen2.5-7b-instruct"]) as fake:
        yield fake


async def post(
    session: aiohttp.ClientSession, fake: FakeLLM, body: Any, *, read: bool = True, **kwargs: Any
) -> aiohttp.ClientResponse:
    """POST a chat completion; the body is read (and cached) unless ``read`` is False."""
    headers = {"Authorization": f"Bearer {fake.api_key}"} if fake.api_key else {}
    url = f"{fake.base_url}/chat/completions"
    resp = await session.post(url, json=body, headers=headers, **kwargs)
    if read:
        await resp.read()
    return resp


async def stream(session: aiohttp.ClientSession, fake: FakeLLM, body: Any) -> list[str]:
    resp = await post(session, fake, {**body, "stream": True})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return parse_sse(await resp.read())


# ------------------------------------------------------------------- happy paths


async def test_mistral_non_stream(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    resp = await post(session, mistral, chat("What is 2+2?"))
    assert resp.status == 200
    data = await resp.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "mistral-small-latest"
    assert {"id", "created"} <= data.keys()
    [choice] = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Answer to: What is 2+2?"
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    other = await (await post(session, mistral, chat("Something else"))).json()
    assert other["choices"][0]["message"]["content"] != choice["message"]["content"]
    assert mistral.calls == 2


async def test_mistral_stream_layout(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    prompt = "tell me a short joke about cats please"
    chunks = chunks_of(await stream(session, mistral, chat(prompt)))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) > 3  # a few words per chunk
    # Usage and finish_reason arrive together in the last chunk only.
    assert [c for c in chunks if "usage" in c] == [chunks[-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert streamed_text(chunks) == f"Answer to: {prompt}"
    full = await (await post(session, mistral, chat(prompt))).json()
    assert chunks[-1]["usage"] == full["usage"]


async def test_lmstudio_stream_has_no_usage(
    session: aiohttp.ClientSession, lmstudio: FakeLLM
) -> None:
    chunks = chunks_of(await stream(session, lmstudio, chat("hi", stream_options={"x": 1})))
    assert not any("usage" in c for c in chunks)
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed_text(chunks) == "Answer to: hi"


async def test_lmstudio_non_stream(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    # Lenient: unknown keys and a user ``name`` are ignored.
    body = chat("yo", foo=1, cache_prompt=True)
    body["messages"][0]["name"] = "viewer42"
    resp = await post(session, lmstudio, body)
    assert resp.status == 200
    data = await resp.json()
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Answer to: yo"}
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


async def test_n_choices(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    data = await (await post(session, lmstudio, chat("q", n=3))).json()
    texts = [c["message"]["content"] for c in data["choices"]]
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    chunks = chunks_of(await stream(session, lmstudio, chat("q", n=3)))
    assert [streamed_text(chunks, i) for i in range(3)] == texts


async def test_reply_str_sync_and_async_callables(
    session: aiohttp.ClientSession, mistral: FakeLLM
) -> None:
    mistral.reply = "fixed"
    assert (await (await post(session, mistral, chat())).json())["choices"][0]["message"][
        "content"
    ] == "fixed"

    seen: list[dict[str, Any]] = []

    def sync_reply(body: dict[str, Any]) -> str:
        seen.append(body)
        return body["messages"][-1]["content"].upper()

    mistral.reply = sync_reply
    chunks = chunks_of(await stream(session, mistral, chat("shout")))
    assert streamed_text(chunks) == "SHOUT"
    assert seen[0]["stream"] is True

    async def async_reply(body: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return "async!"

    mistral.reply = async_reply
    data = await (await post(session, mistral, chat())).json()
    assert data["choices"][0]["message"]["content"] == "async!"


async def test_chunk_chars(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    mistral.reply = "abcdefghij"
    mistral.chunk_chars = 3
    chunks = chunks_of(await stream(session, mistral, chat()))
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:]]
    assert pieces == ["abc", "def", "ghi", "j"]


async def test_stop_and_max_tokens(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    mistral.reply = "one two three. four five"
    data = await (await post(session, mistral, chat(stop=["."]))).json()
    assert data["choices"][0]["message"]["content"] == "one two three"
    data = await (await post(session, mistral, chat(max_tokens=2))).json()
    assert data["choices"][0]["message"]["content"] == "one two"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 2


# ----------------------------------------------------------------- SSE options


async def test_sse_torture_options_still_parse(
    session: aiohttp.ClientSession, mistral: FakeLLM
) -> None:
    mistral.line_ending = "\r\n"
    mistral.comments = True
    mistral.multiline_data = True
    mistral.content_as_list = True
    mistral.role_only_first_chunk = True
    resp = await post(session, mistral, chat("über café", stream=True))
    raw = await resp.read()
    assert b"\r\n\r\n" in raw
    assert b": keep-alive\r\n" in raw
    assert "über".encode() in raw  # raw UTF-8, not \\u escapes
    first_event = raw.split(b"\r\n\r\n")[1]  # [0] is the keep-alive comment
    assert first_event.count(b"data:") > 1  # one event spread over several data lines
    chunks = chunks_of(parse_sse(raw))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}  # no content key
    assert isinstance(chunks[1]["choices"][0]["delta"]["content"], list)
    assert streamed_text(chunks) == "Answer to: über café"
    assert "usage" in chunks[-1]


async def test_content_as_list_non_stream(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    mistral.content_as_list = True
    data = await (await post(session, mistral, chat("x"))).json()
    content = data["choices"][0]["message"]["content"]
    assert content == [{"type": "text", "text": "Answer to: x"}]


# -------------------------------------------------------- strictness and auth


async def test_mistral_rejects_unknown_keys(
    session: aiohttp.ClientSession, mistral: FakeLLM
) -> None:
    body = chat(user="bob", stream_options={"include_usage": True})
    body["messages"][0]["name"] = "viewer42"
    resp = await post(session, mistral, body)
    assert resp.status == 422
    data = await resp.json()
    assert data["object"] == "error"
    assert data["type"] == "invalid_request_error"
    locs = [d["loc"] for d in data["message"]["detail"]]
    assert ["body", "user"] in locs
    assert ["body", "stream_options"] in locs
    assert ["body", "messages", 0, "user", "name"] in locs
    assert {d["type"] for d in data["message"]["detail"]} == {"extra_forbidden"}
    # Every accepted key passes.
    ok = chat(
        temperature=0.7,
        top_p=1,
        max_tokens=50,
        stream=False,
        stop=None,
        random_seed=1,
        safe_prompt=False,
        presence_penalty=0,
        frequency_penalty=0,
        n=1,
    )
    assert (await post(session, mistral, ok)).status == 200


async def test_mistral_missing_fields_and_bad_json(
    session: aiohttp.ClientSession, mistral: FakeLLM
) -> None:
    resp = await post(session, mistral, {"messages": [{"role": "wizard", "content": "x"}]})
    assert resp.status == 422
    types = {d["type"] for d in (await resp.json())["message"]["detail"]}
    assert types == {"missing", "union_tag_invalid"}
    resp = await session.post(
        f"{mistral.base_url}/chat/completions",
        data="{not json",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert resp.status == 422
    assert mistral.last_request.body is None
    assert mistral.last_request.raw == "{not json"


async def test_check_model(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    mistral.check_model = True
    resp = await post(session, mistral, {**chat(), "model": "nope"})
    assert resp.status == 400
    assert (await resp.json())["type"] == "invalid_model"


async def test_lmstudio_ignores_the_model_with_one_loaded_and_refuses_others_with_several(
    session: aiohttp.ClientSession, lmstudio: FakeLLM
) -> None:
    assert (await post(session, lmstudio, {**chat(), "model": "local-model"})).status == 200
    lmstudio.models = ["qwen2.5-7b-instruct", "phi-4"]
    resp = await post(session, lmstudio, {**chat(), "model": "local-model"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "model_not_found" and "qwen2.5-7b-instruct, phi-4" in error["message"]
    assert (await post(session, lmstudio, {**chat(), "model": "phi-4"})).status == 200


async def test_lmstudio_errors(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    resp = await post(session, lmstudio, {"model": "x"})
    assert resp.status == 400
    assert (await resp.json()) == {"error": "'messages' field is required"}
    # LM Studio answers unknown routes with 200 and an error body.
    resp = await session.post(f"http://127.0.0.1:{lmstudio.port}/chat/completions", json=chat())
    assert resp.status == 200
    assert "Unexpected endpoint" in (await resp.json())["error"]


async def test_auth(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    url = f"{mistral.base_url}/chat/completions"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await session.post(url, json=chat(), headers=headers)
        assert resp.status == 401
        assert (await resp.json())["message"] == "Unauthorized"
    async with session.get(f"{mistral.base_url}/models") as resp:
        assert resp.status == 401
    assert mistral.calls == 2
    assert mistral.requests[0].headers.get("authorization") is None
    assert (await post(session, mistral, chat())).status == 200
    assert mistral.last_request.headers["authorization"] == f"Bearer {KEY}"


async def test_models_route(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    data = await (await session.get(f"{lmstudio.base_url}/models")).json()
    assert data["object"] == "list"
    assert [(m["id"], m["object"]) for m in data["data"]] == [("qwen2.5-7b-instruct", "model")]
    async with FakeLLM(models=["a", "b"]) as fake:
        data = await (await session.get(f"{fake.base_url}/models")).json()
        assert [m["id"] for m in data["data"]] == ["a", "b"]
        assert data["data"][0]["owned_by"] == "mistralai"
        async with session.get(f"{fake.base_url}/nope") as resp:
            assert resp.status == 404
    assert fake.calls == 0  # the models route is not a chat call


# ---------------------------------------------------------------------- faults


async def test_fail_next_shapes_and_fifo(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.fail_next(status=500, shape="object")
    lmstudio.fail_next(status=503, shape="string", message="Model is loading")
    lmstudio.fail_next(status=502, shape="text")
    lmstudio.fail_next(status=400, shape="mistral")

    resp = await post(session, lmstudio, chat())
    assert resp.status == 500
    assert isinstance((await resp.json())["error"]["message"], str)
    resp = await post(session, lmstudio, chat())
    assert (resp.status, await resp.json()) == (503, {"error": "Model is loading"})
    resp = await post(session, lmstudio, chat())
    assert resp.status == 502
    assert resp.content_type == "text/html"
    resp = await post(session, lmstudio, chat())
    assert resp.status == 400
    assert (await resp.json())["object"] == "error"
    assert (await post(session, lmstudio, chat())).status == 200
    assert lmstudio.calls == 5


async def test_fail_next_times_and_flavour_default(
    session: aiohttp.ClientSession, mistral: FakeLLM
) -> None:
    mistral.fail_next(status=500, times=2)
    for _ in range(2):
        resp = await post(session, mistral, chat(stream=True))
        assert resp.status == 500
        data = await resp.json()
        assert data["object"] == "error"
        assert isinstance(data["message"], str)
    assert (await post(session, mistral, chat())).status == 200


async def test_rate_limit(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    mistral.rate_limit_next(retry_after=2)
    mistral.rate_limit_next(retry_after=0.5)
    mistral.rate_limit_next(retry_after=None)
    resp = await post(session, mistral, chat())
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"
    assert (await resp.json())["type"] == "rate_limited"
    assert (await post(session, mistral, chat())).headers["Retry-After"] == "0.5"
    resp = await post(session, mistral, chat())
    assert resp.status == 429
    assert "Retry-After" not in resp.headers
    assert (await post(session, mistral, chat())).status == 200


async def test_drop_stream_after(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.chunk_chars = 2
    lmstudio.drop_stream_after(chunks=3)
    received = b""
    async with await post(session, lmstudio, chat("prompt", stream=True), read=False) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for part in resp.content.iter_any():
                received += part
    events = parse_sse(received)
    assert len(events) == 3  # three 2-character content chunks, then the connection closes
    assert "[DONE]" not in events
    assert streamed_text([json.loads(e) for e in events]) == "Answer"
    # The next call is healthy again.
    assert chunks_of(await stream(session, lmstudio, chat()))


async def test_drop_non_stream(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.drop_stream_after(chunks=0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, lmstudio, chat())
    assert (await post(session, lmstudio, chat())).status == 200


async def test_hang_next(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.hang_next(None)
    with pytest.raises(TimeoutError):
        await post(session, lmstudio, chat(), timeout=aiohttp.ClientTimeout(total=0.05))
    lmstudio.hang_next(0.1)
    started = time.monotonic()
    assert (await post(session, lmstudio, chat())).status == 200
    assert time.monotonic() - started >= 0.1


async def test_hang_mid_stream(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.hang_next(None, after_chunks=1)
    async with await post(session, lmstudio, chat(stream=True), read=False) as resp:
        first = await resp.content.readuntil(b"\n\n")
        assert json.loads(parse_sse(first)[0])["choices"][0]["delta"]["content"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await resp.content.readuntil(b"\n\n")


# --------------------------------------------------------- timing and capacity


async def test_latency_and_token_delay(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.latency_s = 0.1
    started = time.monotonic()
    resp = await post(session, lmstudio, chat(stream=True), read=False)
    assert time.monotonic() - started >= 0.1  # headers only after the latency
    await resp.read()
    lmstudio.latency_s = 0
    lmstudio.token_delay_s = 0.025
    lmstudio.chunk_chars = 5
    lmstudio.reply = "x" * 20  # 4 content chunks + the final chunk: 4 gaps
    started = time.monotonic()
    await stream(session, lmstudio, chat())
    assert time.monotonic() - started >= 0.1


async def test_max_parallel_queues(session: aiohttp.ClientSession, lmstudio: FakeLLM) -> None:
    lmstudio.latency_s = 0.05
    lmstudio.max_parallel = 1
    started = time.monotonic()
    results = await asyncio.gather(*(post(session, lmstudio, chat()) for _ in range(3)))
    assert [r.status for r in results] == [200, 200, 200]
    assert time.monotonic() - started >= 0.15
    assert lmstudio.max_in_flight == 1
    lmstudio.max_parallel = None
    lmstudio.reset()
    await asyncio.gather(*(post(session, lmstudio, chat()) for _ in range(3)))
    assert lmstudio.max_in_flight == 3


async def test_records_reset_and_wait(session: aiohttp.ClientSession, mistral: FakeLLM) -> None:
    task = asyncio.create_task(post(session, mistral, chat("recorded", temperature=0.3)))
    await mistral.wait_for_calls(1)
    await task
    rec = mistral.last_request
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.body["temperature"] == 0.3
    assert rec.headers["Content-Type"] == "application/json"
    mistral.fail_next()
    mistral.reset()
    assert (mistral.calls, mistral.requests, list(mistral.faults)) == (0, [], [])
    assert (await post(session, mistral, chat())).status == 200
    with pytest.raises(TimeoutError):
        await mistral.wait_for_calls(5, timeout=0.05)


# ------------------------------------------------------------------ lifecycle


async def test_restart_on_same_port(session: aiohttp.ClientSession) -> None:
    fake = FakeLLM(flavour="lmstudio")
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    url = await fake.start()
    assert url == fake.base_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
    async with session.post(f"{url}/chat/completions", json=chat()) as resp:
        assert resp.status == 200
    await fake.stop()
    assert not fake.running
    with pytest.raises(aiohttp.ClientConnectionError):
        await session.post(f"{url}/chat/completions", json=chat())
    assert await fake.start() == url
    async with session.post(f"{url}/chat/completions", json=chat()) as resp:
        assert resp.status == 200
    await fake.stop()


async def test_stop_cuts_off_hung_requests(session: aiohttp.ClientSession) -> None:
    fake = FakeLLM()
    await fake.start()
    fake.hang_next(None)
    pending = asyncio.create_task(session.post(f"{fake.base_url}/chat/completions", json=chat()))
    await fake.wait_for_calls(1)
    await asyncio.wait_for(fake.stop(), 10)  # the request hangs forever: stop() must cut it
    with pytest.raises(aiohttp.ClientConnectionError):
        await pending
    assert fake.in_flight == 0


async def test_cli(session: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fakes.llm",
        "--port",
        "0",
        "--flavour",
        "lmstudio",
        "--latency",
        "0.05",
        "--model",
        "cli-model",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=TESTS,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(10):
            url = (await proc.stdout.readline()).decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        models = await (await session.get(f"{url}/models")).json()
        assert models["data"][0]["id"] == "cli-model"
        async with session.post(f"{url}/chat/completions", json=chat("cli", stream=True)) as resp:
            chunks = chunks_of(parse_sse(await resp.read()))
        assert streamed_text(chunks) == "Answer to: cli"
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert b"listening on" in stderr
