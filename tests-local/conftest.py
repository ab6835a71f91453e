"""Shared fixtures. Fakes of the outside world live in tests-local/fakes/."""

from __future__ import annotations

import pytest

from config.settings import Settings


class FakeClock:
    """A clock the test moves by hand, for cooldowns, rate limits and TTLs."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No QUIPBOT_* variable, .env or quipbot.toml of the developer's leaks into a test."""
    import os

    for key in list(os.environ):
        if key.startswith("QUIPBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(isolated_env, tmp_path) -> Settings:
    return Settings(bot={"data_dir": tmp_path / "data"})
