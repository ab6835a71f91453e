"""The console, end to end: a subprocess with piped stdin, as a new user would run it."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from support import ROOT, quipbot

from bot.console import default_user, parse_line
from commands.types import Role


def test_done_when_two_different_jokes_and_a_stats_line(tmp_path):
    result = quipbot(
        "console",
        "--mod",
        "bob",
        cwd=tmp_path,
        stdin="alice: !joke\nalice: !joke\nbob: !cachestats\n",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert all(line.startswith("bot: ") for line in lines)
    assert lines[0] != lines[1]
    assert "📊" in lines[2] and "answers 2" in lines[2]
    assert "Traceback" not in result.stderr


def test_every_line_answered_in_order_and_chatter_ignored(tmp_path):
    stdin = "!ping\nhello everyone\nalice: !uptime\n\n!nope\nbob: !cachestats\n!help\n"
    result = quipbot("console", cwd=tmp_path, stdin=stdin, QUIPBOT_BOT__LANGUAGE="en")
    lines = result.stdout.splitlines()
    assert lines[0] == "bot: 🏓 Pong!"
    assert lines[1].startswith("bot: ⏱️ Up for")
    assert lines[2] == (
        "bot: Commands: !help, !ping, !uptime, !joke, !ask, !absurd, !vote, !topjokes, "
        "!cachestats, !jokestats, !cacheclear, !forget, !banphrase"
    )
    assert len(lines) == 3  # bob is no moderator; chatter and unknown commands get nothing


def test_limits_are_off_by_default_and_on_with_the_flag(tmp_path):
    stdin = "alice: !joke\n" * 3
    free = quipbot("console", cwd=tmp_path, stdin=stdin).stdout.splitlines()
    limited = quipbot("console", "--limits", cwd=tmp_path, stdin=stdin).stdout.splitlines()
    assert len(free) == 3 and len(set(free)) == 3
    assert len(limited) == 2 and "⏳" in limited[1]


def test_run_with_nothing_configured_starts_the_console_and_says_so(tmp_path):
    result = quipbot("run", cwd=tmp_path, stdin="!ping\n")
    assert result.stdout == "bot: 🏓 Pong !\n"
    assert "adapters=console backend=offline" in result.stderr
    assert "console" in result.stderr


def test_console_does_not_import_platform_libraries(tmp_path):
    code = (
        "import sys, io; from bot.cli import main; sys.stdin = io.StringIO('!joke\\n');"
        "main(['console']); print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('discord', 'twitchio', 'redis')), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_bad_config_makes_console_exit_non_zero(tmp_path):
    result = quipbot("console", cwd=tmp_path, stdin="!joke\n", QUIPBOT_BOT__LANGUAGE="klingon")
    assert result.returncode == 2 and result.stdout == ""
    assert "bot.language: must be one of fr, en (got 'klingon')" in result.stderr


@pytest.mark.parametrize(
    ("line", "user", "text"),
    [
        ("alice: !joke", "alice", "!joke"),
        ("!joke", "ada", "!joke"),
        ("!ask what: is this", "ada", "!ask what: is this"),
        ("José: !joke", "José", "!joke"),
        ("a b: hi", "ada", "a b: hi"),
    ],
)
def test_speaker_parsing(line, user, text):
    message = parse_line(line, mods=set(), default_user="ada")
    assert (message.user_name, message.text) == (user, text)


def test_mods_and_the_default_user_roles():
    assert Role.MODERATOR in parse_line("Bob: !x", mods={"bob"}, default_user="ada").roles
    assert parse_line("eve: !x", mods={"bob"}, default_user="ada").level == Role.VIEWER
    assert parse_line("!x", mods=set(), default_user="ada").level == Role.BROADCASTER
    assert parse_line("ada: !x", mods=set(), default_user="ada").level == Role.BROADCASTER


def test_the_default_user_is_the_login_name_else_streamer(monkeypatch):
    monkeypatch.setattr(getpass, "getuser", lambda: "ada")
    assert default_user() == "ada"

    def no_login() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert default_user() == "streamer"


def test_a_line_without_a_name_is_spoken_by_the_login_name(tmp_path):
    stdin = "!vote +1\n!cachestats\n"
    result = quipbot(
        "console", cwd=tmp_path, stdin=stdin, LOGNAME="ada", QUIPBOT_BOT__LANGUAGE="en"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "bot: ada, no joke to rate yet: try !joke."
    assert lines[1].startswith("bot: 📊")  # ada runs the stream: moderator commands work


async def test_console_asks_the_llm_caches_and_survives_it_going_away(tmp_path):
    """The intelligence-core 'done when', as a user would run it."""
    import asyncio

    from fakes.llm import FakeLLM

    fake = FakeLLM(flavour="lmstudio", reply="Because of Rayleigh scattering.")
    await fake.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIPBOT_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "QUIPBOT_LLM__PROVIDER": "lmstudio",
        "QUIPBOT_LLM__BASE_URL": fake.base_url,
        "QUIPBOT_LLM__BREAKER_FAILURES": "2",
        "QUIPBOT_LLM__BREAKER_RESET_S": "1",
        "QUIPBOT_LLM__CONNECT_TIMEOUT_S": "0.5",
        "QUIPBOT_BOT__LANGUAGE": "en",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "console",
        "--mod",
        "mo",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def say(line: str) -> str:
        proc.stdin.write(f"{line}\n".encode())
        await proc.stdin.drain()
        return (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().rstrip("\n")

    try:
        assert await say("alice: !ask why is the sky blue?") == (
            "bot: Because of Rayleigh scattering."
        )
        assert await say("bob: !ask Why is the sky blue") == "bot: Because of Rayleigh scattering."
        assert fake.calls == 1
        stats = await say("mo: !cachestats")
        assert "answers 2 (llm=1 l1=1)" in stats and "llm 1 calls" in stats

        await fake.stop()
        for i in range(3):  # two failures open the breaker; the third is refused at once
            assert "taking a break" in await say(f"carol: !ask question {i}")
        assert "primary:lmstudio=open" in await say("mo: !cachestats")
        assert (await say("carol: !joke")).startswith("bot: ")

        await fake.start()
        await asyncio.sleep(1.1)  # breaker_reset_s: the next call is the probe
        assert await say("dave: !ask is it back?") == "bot: Because of Rayleigh scattering."
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 30)
        await fake.stop()
    assert proc.returncode == 0


TERMINAL_ENV = {"TERM": "xterm", "LOGNAME": "ada", "QUIPBOT_BOT__LANGUAGE": "en"}


class Terminal:
    """``python -m bot console`` on a pseudo-terminal, as a streamer runs it in a shell."""

    def __init__(self, cwd: Path, **env: str) -> None:
        self.master, slave = pty.openpty()
        self.modes = termios.tcgetattr(self.master)
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("QUIPBOT_")}
        clean_env.pop("NO_COLOR", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "console"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=clean_env | TERMINAL_ENV | {"PYTHONPATH": str(ROOT)} | env,
            start_new_session=True,  # then the terminal becomes its controlling one: ^C works
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.output = b""
        self.seen = 0  # how much of the output earlier reads went through

    def read_until(self, text: bytes) -> bytes:
        """What was printed since the last read, up to the end of ``text`` (waiting 60 s at
        most: a guard against a hang)."""
        deadline = time.monotonic() + 60
        while text not in self.output[self.seen :] and time.monotonic() < deadline:
            if select.select([self.master], [], [], 1)[0]:
                try:
                    self.output += os.read(self.master, 4096)
                except OSError:  # the process closed the terminal
                    break
        assert text in self.output[self.seen :], self.output
        start, self.seen = self.seen, self.output.index(text, self.seen) + len(text)
        return self.output[start : self.seen]

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def exit_code(self) -> int:
        code = self.process.wait(timeout=60)
        with contextlib.suppress(OSError):
            while chunk := os.read(self.master, 4096):
                self.output += chunk
        self.modes_at_exit = termios.tcgetattr(self.master)
        os.close(self.master)
        return code

    def prompt(self) -> bytes:
        return self.read_until(b"ada:\x1b[0m ")


def test_a_terminal_session_edits_lines_keeps_history_and_quits_on_ctrl_d(tmp_path):
    data = tmp_path / "data"
    terminal = Terminal(tmp_path, QUIPBOT_BOT__DATA_DIR=str(data))
    greeting = terminal.prompt()
    assert b"you are ada, the broadcaster" in greeting
    assert f"Logs go to {data / 'console.log'}".encode() in greeting
    terminal.type(b"!pxng\x1b[D\x1b[D\x7fi\r")  # a typo, fixed with ←, ← and backspace
    assert "\x1b[1;36mbot:\x1b[0m 🏓 Pong!".encode() in terminal.read_until(b"Pong!")
    terminal.prompt()
    terminal.type(b"\x04")  # Ctrl-D
    assert terminal.exit_code() == 0
    assert b"Traceback" not in terminal.output
    assert (data / "console_history").read_text().splitlines() == ["!ping"]
    assert (data / "console.log").is_file()

    again = Terminal(tmp_path, QUIPBOT_BOT__DATA_DIR=str(data))
    again.prompt()
    again.type(b"\x1b[A\r")  # ↑: the line typed last time
    again.read_until(b"Pong!")
    again.prompt()
    again.type(b"\x04")
    assert again.exit_code() == 0


def test_ctrl_c_quits_at_once_with_130_and_gives_the_terminal_back(tmp_path):
    terminal = Terminal(tmp_path)
    terminal.prompt()
    terminal.type(b"half a line\x03")
    assert terminal.exit_code() == 130
    assert b"Traceback" not in terminal.output
    assert terminal.output.endswith(b"\r\n")  # the shell's prompt gets a line of its own
    assert terminal.modes_at_exit == terminal.modes  # echo and line mode are back


def test_no_color_means_no_colours(tmp_path):
    terminal = Terminal(tmp_path, NO_COLOR="1")
    terminal.read_until(b"\nada: ")
    terminal.type(b"!ping\r")
    terminal.read_until("bot: 🏓 Pong!".encode())
    terminal.read_until(b"\nada: ")
    terminal.type(b"\x04")
    assert terminal.exit_code() == 0
    assert not re.search(rb"\x1b\[[0-9;]*m", terminal.output)
