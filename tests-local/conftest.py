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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port, which a test can kill and bring back."""

    def __init__(self, directory) -> None:
        self.port = free_port()
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import socket
        import subprocess
        import time

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # Ours exited: the port was taken meanwhile (tests run in parallel), and a PING
            # would reach another test's server.
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server could not listen on port {self.port}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path):
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    for _attempt in range(5):  # another test may take the free port first
        server = RedisServer(tmp_path)
        try:
            server.start()
            break
        except RuntimeError:
            continue
    else:
        raise RuntimeError("redis-server did not start")
    yield server
    server.stop()


@pytest.fixture
async def make_app(clock):
    """``await make_app(settings, ...)``: a started app, closed (SQLite flushed) after the test."""
    from bot.app import build_app

    apps = []

    async def make(settings: Settings, **kwargs):
        kwargs.setdefault("clock", clock)
        app = build_app(settings, **kwargs)
        apps.append(app)
        await app.start()
        return app

    yield make
    for app in apps:
        await app.aclose()
