"""Config: source precedence, TOML plus env merge, and every error path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from config.settings import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("isolated_env")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source():
    s = load_settings()
    assert s.bot.language == "fr" and s.bot.prefix == "!"
    assert s.llm.provider == "offline"
    assert s.cache.ask_ttl_s == 3600 and s.cache.joke_ttl_s == 300 and s.cache.joke_max == 100
    assert s.limits.max_prompt_chars == 4096
    assert s.http.host == "127.0.0.1"
    assert s.cache.redis_url == ""


def test_precedence_env_over_dotenv_over_toml_over_defaults(tmp_path, monkeypatch):
    write(
        tmp_path / "quipbot.toml",
        '[bot]\nprefix = "?"\nlanguage = "en"\npersona = "toml"\n[limits]\nuser_cooldown_s = 9\n',
    )
    write(tmp_path / ".env", "QUIPBOT_BOT__PREFIX=#\nQUIPBOT_BOT__PERSONA=dotenv\n")
    monkeypatch.setenv("QUIPBOT_BOT__PERSONA", "env")
    s = load_settings()
    assert s.bot.persona == "env"  # env beats .env and TOML
    assert s.bot.prefix == "#"  # .env beats TOML
    assert s.bot.language == "en"  # TOML beats the default
    assert s.limits.user_cooldown_s == 9
    assert s.limits.user_rate_per_min == 10  # untouched default


def test_toml_and_env_merge_inside_one_section(tmp_path, monkeypatch):
    cfg = write(
        tmp_path / "custom.toml",
        '[llm]\nprovider = "lmstudio"\nmodel = "qwen"\n[llm.fallback]\nprovider = "mistral"\n',
    )
    monkeypatch.setenv("QUIPBOT_LLM__BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("QUIPBOT_LLM__FALLBACK__API_KEY", "sk-fallback")
    s = load_settings(cfg)
    assert s.llm.provider == "lmstudio" and s.llm.model == "qwen"
    assert s.llm.base_url == "http://127.0.0.1:9/v1"  # trailing slash dropped
    assert s.llm.fallback is not None and s.llm.fallback.provider == "mistral"
    assert s.llm.fallback.api_key.get_secret_value() == "sk-fallback"
    assert s.llm.fallback.resolved_base_url == "https://api.mistral.ai/v1"


def test_config_file_from_env_variable(tmp_path, monkeypatch):
    cfg = write(tmp_path / "elsewhere.toml", '[bot]\nlanguage = "en"\n')
    monkeypatch.setenv("QUIPBOT_CONFIG", str(cfg))
    assert load_settings().bot.language == "en"


def test_explicit_path_beats_env_variable_and_local_file(tmp_path, monkeypatch):
    write(tmp_path / "quipbot.toml", '[bot]\nprefix = "?"\n')
    monkeypatch.setenv("QUIPBOT_CONFIG", str(write(tmp_path / "b.toml", '[bot]\nprefix = "%"\n')))
    assert load_settings(write(tmp_path / "a.toml", '[bot]\nprefix = "$"\n')).bot.prefix == "$"


def test_lists_from_env_as_csv_or_json(monkeypatch):
    monkeypatch.setenv("QUIPBOT_TWITCH__CHANNELS", "alpha, beta")
    monkeypatch.setenv("QUIPBOT_DISCORD__GUILD_IDS", "[1, 2]")
    s = load_settings()
    assert s.twitch.channels == ["alpha", "beta"]
    assert s.discord.guild_ids == [1, 2]


def test_secrets_are_hidden_in_repr(monkeypatch):
    monkeypatch.setenv("QUIPBOT_HTTP__API_KEY", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def problems(**env: str) -> list[str]:
    import os

    for key, value in env.items():
        os.environ[key] = value
    try:
        with pytest.raises(ConfigError) as info:
            load_settings()
        return info.value.problems
    finally:
        for key in env:
            del os.environ[key]


def test_invalid_provider_names_key_allowed_values_and_input():
    assert problems(QUIPBOT_LLM__PROVIDER="foo") == [
        "llm.provider: must be one of offline, mistral, lmstudio, openai (got 'foo')"
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QUIPBOT_BOT__LANGUAGE": "de"}, "bot.language: must be one of fr, en (got 'de')"),
        ({"QUIPBOT_CACHE__L1_MAX": "lots"}, "cache.l1_max: input should be a valid integer"),
        ({"QUIPBOT_LIMITS__MAX_PROMPT_CHARS": "0"}, "limits.max_prompt_chars: input should be"),
        ({"QUIPBOT_HTTP__PORT": "70000"}, "http.port: input should be less than or equal"),
        ({"QUIPBOT_BOT__PREFIX": "a b"}, "bot.prefix: must not contain spaces"),
        ({"QUIPBOT_LLM__BASE_URL": "localhost:1234"}, "llm.base_url: must start with http://"),
        ({"QUIPBOT_CACHE__REDIS_URL": "localhost"}, "cache.redis_url: must start with redis://"),
        ({"QUIPBOT_TWITCH__ENABLED": "maybe"}, "twitch.enabled: input should be a valid boolean"),
    ],
)
def test_each_invalid_value_gives_one_clear_line(env, expected):
    lines = problems(**env)
    assert len(lines) == 1
    assert lines[0].startswith(expected), lines[0]


def test_several_problems_give_several_lines():
    lines = problems(QUIPBOT_LLM__PROVIDER="foo", QUIPBOT_BOT__LANGUAGE="de")
    assert len(lines) == 2


def test_secret_values_are_not_echoed_in_errors(tmp_path):
    cfg = write(tmp_path / "quipbot.toml", "[http]\napi_key = 12345\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "12345" not in str(info.value)
    assert info.value.problems[0].startswith("http.api_key:")


def test_unknown_key_in_a_section_is_reported(tmp_path):
    cfg = write(tmp_path / "quipbot.toml", "[cache]\nredis_ulr = 'redis://x'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert info.value.problems == [
        "cache.redis_ulr: unknown key (check the spelling against config/quipbot.example.toml)"
    ]


def test_unknown_section_in_the_file_is_reported_with_the_closest_one(tmp_path):
    cfg = write(tmp_path / "quipbot.toml", "[discrod]\ntoken = 'x'\n[zzz]\nkey = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert info.value.problems == [
        "discrod: unknown section; did you mean 'discord'?",
        "zzz: unknown section (sections: bot, llm, cache, limits, moderation, twitch, discord, "
        "http)",
    ]


def test_unknown_section_in_the_environment_or_dotenv_is_reported(tmp_path):
    write(tmp_path / ".env", "QUIPBOT_LMM__PROVIDER=mistral\nCOMPOSE_PROJECT_NAME=bot\n")
    assert problems(QUIPBOT_DISCROD__TOKEN="x", QUIPBOT_BOT__LANGUAGE="de") == [
        "QUIPBOT_LMM__PROVIDER: unknown section 'lmm'; did you mean 'llm'?",
        "QUIPBOT_DISCROD__TOKEN: unknown section 'discrod'; did you mean 'discord'?",
        "bot.language: must be one of fr, en (got 'de')",
    ]


def test_variables_that_name_no_section_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("QUIPBOT_CONFIG", str(write(tmp_path / "q.toml", "[bot]\n")))
    monkeypatch.setenv("QUIPBOT_WHEELS", "/tmp/wheels")  # tests-llm/setup.sh reads it
    monkeypatch.setenv("OTHER__THING", "x")
    assert load_settings().bot.language == "fr"


def test_broken_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "bad.toml", "[bot\nprefix=\n"))
    assert "cannot be read" in info.value.problems[0]
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml")
    assert info.value.problems == [f"config file {tmp_path / 'nope.toml'}: not found"]


def test_example_config_is_valid_and_complete():
    example = ROOT / "config" / "quipbot.example.toml"
    settings = load_settings(example)
    text = example.read_text(encoding="utf-8")
    for section, model in settings:
        for key in type(model).model_fields:
            documented = f"{key} =" in text or f"[{section}.{key}]" in text
            assert documented, f"{section}.{key} is not in the example config"


def test_cli_exits_non_zero_without_traceback(tmp_path):
    env = {"PATH": "", "QUIPBOT_LLM__PROVIDER": "foo", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "config error: llm.provider: must be one of offline, mistral, lmstudio, openai (got 'foo')"
    )
