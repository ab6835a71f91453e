"""quipbot check: one line per problem, non-zero exit, every configured dependency reached."""

from __future__ import annotations

import pytest
from fakes.llm import FakeLLM

from bot.check import run_checks
from config.settings import Settings

pytestmark = pytest.mark.usefixtures("isolated_env")


def lines(findings) -> list[str]:
    return [str(f) for f in findings]


async def test_everything_reachable(tmp_path, redis_server):
    async with FakeLLM(flavour="lmstudio", models=["qwen2.5"]) as fake:
        settings = Settings(
            bot={"data_dir": tmp_path / "d"},
            llm={"provider": "lmstudio", "base_url": fake.base_url, "model": "qwen2.5"},
            cache={"redis_url": redis_server.url},
        )
        findings = await run_checks(settings)
    assert all(f.ok for f in findings), lines(findings)
    assert {f.what for f in findings} == {"sqlite", "redis", "llm (lmstudio)"}


async def test_each_problem_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    async with FakeLLM(flavour="mistral", models=["mistral-small-latest"]) as fake:
        settings = Settings(
            bot={"data_dir": blocker / "data"},
            llm={
                "provider": "lmstudio",
                "base_url": fake.base_url,
                "model": "llama-3",
                "fallback": {"provider": "mistral", "base_url": "http://127.0.0.1:1/v1"},
            },
            cache={"redis_url": "redis://127.0.0.1:1/0"},
            twitch={"enabled": True, "client_id": "abc"},
            discord={"enabled": True},
        )
        findings = await run_checks(settings)
    problems = [str(f) for f in findings if not f.ok]
    core = [p for p in problems if not p.startswith(("FAIL twitch", "FAIL discord"))]
    assert len(core) == 5, problems
    assert all("\n" not in p and p.startswith("FAIL ") for p in problems)
    text = "\n".join(problems)
    assert "sqlite: cannot write" in text
    assert "redis: cannot reach redis://127.0.0.1:1/0" in text
    assert "model 'llama-3' is not served" in text and "mistral-small-latest" in text
    assert "llm.fallback (mistral): cannot reach http://127.0.0.1:1/v1" in text
    assert "llm.fallback.api_key is not set" in text
    assert "twitch.client_secret" in text and "twitch.channels" in text
    assert "discord.token is not set" in text


async def test_wrong_api_key_is_reported_without_the_key(tmp_path):
    async with FakeLLM(flavour="mistral", api_key="right-key") as fake:
        settings = Settings(
            bot={"data_dir": tmp_path},
            llm={"provider": "mistral", "base_url": fake.base_url, "api_key": "wrong-key-42"},
        )
        [_, llm] = await run_checks(settings)
    assert not llm.ok and "check llm.api_key" in llm.detail and "wrong-key-42" not in str(llm)


async def test_lm_studio_without_a_model_says_which_loaded_model_it_will_use(tmp_path):
    embedding = "text-embedding-nomic-embed-text-v1.5"
    async with FakeLLM(flavour="lmstudio", models=[embedding, "qwen2.5-7b-instruct"]) as fake:
        settings = Settings(
            bot={"data_dir": tmp_path}, llm={"provider": "lmstudio", "base_url": fake.base_url}
        )
        [_, llm] = await run_checks(settings)
        assert llm.ok, str(llm)
        assert llm.detail.startswith(
            f"{fake.base_url} answers; model qwen2.5-7b-instruct, the one it has loaded "
            "(set llm.model to choose)"
        )
        fake.models = [embedding]
        [_, llm] = await run_checks(settings)
    assert not llm.ok
    assert "has no chat model loaded" in llm.detail and "load one in LM Studio" in llm.detail


async def test_local_checks_reach_only_the_data_folder_and_redis(tmp_path, redis_server):
    """What a Docker healthcheck runs every 30 s: no LLM call, no platform login."""
    settings = Settings(
        bot={"data_dir": tmp_path},
        llm={"provider": "mistral", "base_url": "http://127.0.0.1:1/v1"},
        cache={"redis_url": redis_server.url},
        discord={"enabled": True},
    )
    findings = await run_checks(settings, local=True)
    assert [f.what for f in findings] == ["sqlite", "redis"] and all(f.ok for f in findings)
    redis_server.stop()
    [_, redis] = await run_checks(settings, local=True)
    assert not redis.ok
