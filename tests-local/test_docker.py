"""Docker: docker-compose.yml, Dockerfile, .dockerignore and requirements.lock, read as files
(Docker cannot run here). The Compose schema is the Compose specification's own,
compose-spec/compose-spec schema/compose-spec.json at commit 170098b (Apache-2.0), vendored in
tests-local/data/ so that nothing is downloaded at test time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support import ROOT, TESTS

from bot.cli import _parser
from config.settings import load_settings


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bot(compose) -> dict[str, Any]:
    return compose["services"]["quipbot"]


def dockerfile() -> list[str]:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()


def test_compose_follows_the_compose_specification(compose):
    schema = json.loads((TESTS / "data" / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(compose)


def test_the_llm_settings_come_from_env_or_the_toml_file_not_from_compose(bot):
    """Compose sets no LLM key: what .env or quipbot.toml says is what the bot uses."""
    assert not [key for key in bot["environment"] if key.startswith("QUIPBOT_LLM")]
    assert bot["env_file"] == [{"path": ".env", "required": False}]
    assert "./:/config:ro" in bot["volumes"] and bot["working_dir"] == "/config"
    assert "host.docker.internal:host-gateway" in bot["extra_hosts"]


def test_the_http_port_is_published_and_served_on_every_interface_inside(bot):
    environment = bot["environment"]
    assert environment["QUIPBOT_HTTP__HOST"] == "0.0.0.0"
    [published] = bot["ports"]
    assert published.endswith(f":{environment['QUIPBOT_HTTP__PORT']}")
    assert published.startswith("${QUIPBOT_HTTP_PUBLISH:-127.0.0.1:")  # the host's loopback


def test_compose_only_variables_in_dotenv_do_not_upset_the_config(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("QUIPBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QUIPBOT_HTTP_PUBLISH=0.0.0.0:8080\nCOMPOSE_PROFILES=x\n")
    assert load_settings().http.port == 8080


def test_the_healthcheck_is_a_light_quipbot_check(bot, tmp_path):
    test = bot["healthcheck"]["test"]
    assert test[:2] == ["CMD", "quipbot"]
    assert _parser().parse_args(test[2:]).local
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIPBOT_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "QUIPBOT_LLM__PROVIDER": "lmstudio",  # down: a healthcheck does not call it
        "QUIPBOT_LLM__BASE_URL": "http://127.0.0.1:1/v1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", *test[2:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok   sqlite:") and "llm" not in result.stdout


def test_the_bot_waits_for_a_healthy_redis_that_keeps_its_data(compose, bot):
    assert bot["depends_on"] == {"redis": {"condition": "service_healthy"}}
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert "healthcheck" in redis


def test_the_data_volume_belongs_to_the_user_the_bot_runs_as(bot):
    lines = dockerfile()
    [user] = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user not in ("root", "0")
    assert any(re.search(rf"chown {user}(:{user})? /data\b", line) for line in lines)
    assert "ENV QUIPBOT_BOT__DATA_DIR=/data" in lines
    assert "quipbot-data:/data" in bot["volumes"]


def test_dependencies_install_from_the_lock_file_before_the_code_is_copied():
    lines = dockerfile()
    copy_lock = lines.index("COPY requirements.lock ./")
    install = next(i for i, line in enumerate(lines) if "-r requirements.lock" in line)
    first_code = next(i for i, line in enumerate(lines) if line.startswith("COPY bot "))
    assert copy_lock < install < first_code
    assert "--require-hashes" in lines[install]


def test_the_lock_file_pins_every_dependency_with_hashes():
    lines = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pins = [(i, re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)) for i, line in enumerate(lines)]
    pinned = {canonicalize_name(pin[1]): pin[2] for _, pin in pins if pin}
    for i, pin in pins:
        if pin:  # --require-hashes in the Dockerfile: every pin has its hashes
            assert lines[i + 1].strip().startswith("--hash=sha256:"), lines[i]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock: make lock"
        assert requirement.specifier.contains(version), f"{requirement} but the lock has {version}"


def test_the_build_context_leaves_out_local_data_environments_and_secrets():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("data/", ".venv*", ".git", ".env", ".tio.tokens.json", ".pytest_cache"):
        assert needed in ignored
    copied = [
        source for line in dockerfile() if line.startswith("COPY ") for source in line.split()[1:-1]
    ]
    assert "requirements.lock" in copied and "bot" in copied
    for source in copied:
        assert not [p for p in ignored if fnmatch(source, p.rstrip("/"))], source
