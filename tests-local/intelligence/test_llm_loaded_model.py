"""LLMClient with a local server and no model set: it uses the model the server has loaded."""

from __future__ import annotations

import pytest
from fakes.llm import FakeLLM

from config.settings import BackendSettings
from intelligence.llm import ChatRequest, LLMClient, LLMRequestError, loaded_model

QUESTION = ChatRequest([{"role": "user", "content": "why is the sky blue"}])
EMBEDDING = "text-embedding-nomic-embed-text-v1.5"  # LM Studio lists it with the chat models


def client_for(fake: FakeLLM, **settings) -> LLMClient:
    backend = BackendSettings(provider="lmstudio", base_url=fake.base_url, **settings)
    return LLMClient(backend, name="lmstudio", max_retries=0)


async def ask(client: LLMClient) -> str:
    return "".join([piece async for piece in client.stream(QUESTION)])


def test_the_loaded_model_is_the_first_that_can_chat():
    assert loaded_model([EMBEDDING, "qwen2.5-7b-instruct", "phi-4"]) == "qwen2.5-7b-instruct"
    assert loaded_model([EMBEDDING]) is None
    assert loaded_model([]) is None


async def test_requests_name_the_model_the_server_has_loaded():
    async with FakeLLM(flavour="lmstudio", models=[EMBEDDING, "qwen2.5-7b-instruct"]) as fake:
        client = client_for(fake)
        try:
            assert await ask(client) == "Answer to: why is the sky blue"
            assert (await client.complete(QUESTION)).texts == ["Answer to: why is the sky blue"]
        finally:
            await client.aclose()
    assert [r.body["model"] for r in fake.requests] == ["qwen2.5-7b-instruct"] * 2
    assert client.model == "local-model"  # what caches and the HTTP API call it does not move


async def test_a_configured_model_is_used_as_it_is():
    async with FakeLLM(flavour="lmstudio", models=["qwen2.5-7b-instruct", "phi-4"]) as fake:
        client = client_for(fake, model="phi-4")
        try:
            await ask(client)
        finally:
            await client.aclose()
    assert fake.last_request.body["model"] == "phi-4"


async def test_after_the_streamer_switches_models_the_next_request_asks_again():
    async with FakeLLM(flavour="lmstudio", models=["qwen2.5-7b-instruct", "phi-4"]) as fake:
        client = client_for(fake)
        try:
            await ask(client)
            fake.models = ["gemma-3-4b", "phi-4"]  # qwen unloaded, gemma loaded
            with pytest.raises(LLMRequestError, match="Invalid model identifier"):
                await ask(client)
            assert await ask(client) == "Answer to: why is the sky blue"
        finally:
            await client.aclose()
    assert [r.body["model"] for r in fake.requests] == [
        "qwen2.5-7b-instruct",
        "qwen2.5-7b-instruct",
        "gemma-3-4b",
    ]


async def test_no_chat_model_loaded_is_a_clear_error():
    async with FakeLLM(flavour="lmstudio", models=[EMBEDDING]) as fake:
        client = client_for(fake)
        try:
            with pytest.raises(LLMRequestError) as info:
                await ask(client)
        finally:
            await client.aclose()
    assert str(info.value) == (
        f"lmstudio: {fake.base_url} has no chat model loaded (it lists: {EMBEDDING}); "
        "load one, or set llm.model"
    )
    assert fake.calls == 0


async def test_a_base_url_lm_studio_does_not_serve_is_named():
    async with FakeLLM(flavour="lmstudio") as fake:
        root = fake.base_url.removesuffix("/v1")
        client = LLMClient(BackendSettings(provider="lmstudio", base_url=root), max_retries=0)
        try:
            with pytest.raises(LLMRequestError) as info:
                await client.list_models()
        finally:
            await client.aclose()
    assert "Unexpected endpoint" in str(info.value)
    assert str(info.value).endswith(f"(check llm.base_url: {root})")
