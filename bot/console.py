"""The console adapter: chat with the bot in a terminal, or script it through piped stdin.

A line ``alice: !joke`` is spoken by viewer alice; a line without ``name:`` by the person at the
keyboard (their login name), the broadcaster. Replies go to stdout as ``bot: <text>``, one line
each. Piped, logs go to stderr. In a terminal, lines are edited with readline (the history is
kept in data_dir), replies are coloured unless NO_COLOR is set, logs go to a file in data_dir,
out of the chat's way, and Ctrl-D or Ctrl-C quits at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import getpass
import logging
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from bot.app import App
from commands.types import ChatMessage, Platform, Reply, Role

SPEAKER = re.compile(r"^\s*([\w.\-]{1,25}):\s?(.*)$")
FALLBACK_USER = "streamer"
HISTORY_LINES = 1000
LOG_BYTES = 1_000_000  # then the log rolls over once: data_dir keeps at most twice this
BOT_COLOUR, USER_COLOUR, RESET = "\x1b[1;36m", "\x1b[1;32m", "\x1b[0m"

NextLine = Callable[[], Awaitable[str | None]]  # the next line typed, None at the end


def default_user() -> str:
    """The person at the keyboard: their login name, else "streamer"."""
    try:
        return getpass.getuser() or FALLBACK_USER
    except (OSError, KeyError):  # no login name in the environment, no password entry
        return FALLBACK_USER


def parse_line(line: str, mods: set[str], default_user: str) -> ChatMessage:
    match = SPEAKER.match(line)
    name, text = (match.group(1), match.group(2)) if match else (default_user, line.strip())
    roles = {Role.VIEWER}
    if name.lower() in mods:
        roles.add(Role.MODERATOR)
    if name == default_user:
        roles.add(Role.BROADCASTER)  # the person at the terminal runs the stream
    return ChatMessage(Platform.CONSOLE, "console", name.lower(), name, frozenset(roles), text)


async def run_console(
    app: App,
    *,
    mods: set[str] | None = None,
    user: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Answer each line, in order, until end of input."""
    mods = {m.lower() for m in (mods or set())}
    user = user or default_user()
    if not (stdin.isatty() and stdout.isatty()):

        async def piped() -> str | None:
            return await asyncio.to_thread(stdin.readline) or None

        await _converse(app, piped, mods, user, stdout, label="bot: ", whole=True)
        return
    terminal = Terminal(app.settings.bot.data_dir, user, stdout)
    with terminal.session():
        print(
            f"quipbot console: you are {user}, the broadcaster. Type {app.router.prefix}help; "
            f"Ctrl-D to quit. Logs go to {terminal.log_file}",
            file=sys.stderr,
        )
        await _converse(app, terminal.read_line, mods, user, stdout, terminal.label, whole=False)


async def _converse(
    app: App,
    next_line: NextLine,
    mods: set[str],
    user: str,
    stdout: TextIO,
    label: str,
    *,
    whole: bool,
) -> None:
    while (line := await next_line()) is not None:
        if not line.strip():
            continue
        reply = await app.router.handle(parse_line(line.rstrip("\n"), mods, user))
        if reply is None:
            continue
        if whole:  # a script reads one final line per reply, not a stream
            await reply.collect()
        await _show(reply, stdout, label)


async def _show(reply: Reply, stdout: TextIO, label: str) -> None:
    stdout.write(label)
    if reply.stream is None:
        stdout.write(_one_line(reply.text))
    else:
        async for chunk in reply.stream:
            stdout.write(_one_line(chunk))
            stdout.flush()
        if reply.blocked:  # the gate stopped it: the line shows the neutral words instead
            stdout.write(f"\r\x1b[2K{label}{_one_line(reply.text)}")
    stdout.write("\n")
    stdout.flush()


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", " ")


class Terminal:
    """A person at a terminal: readline editing and history, colours, logs kept out of the
    chat's way."""

    def __init__(self, data_dir: Path, user: str, stdout: TextIO) -> None:
        self.history = data_dir / "console_history"
        self.log_file = data_dir / "console.log"
        self.stdout = stdout
        colour = not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.label = f"{BOT_COLOUR}bot:{RESET} " if colour else "bot: "
        # \001 and \002 around escapes: readline must not count them in the prompt's width.
        self.prompt = f"\001{USER_COLOUR}\002{user}:\001{RESET}\002 " if colour else f"{user}: "

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with self._logs_in_file(), self._history(), _terminal_restored(self.stdout):
            try:
                yield
            finally:
                self.stdout.write("\n")  # the shell's prompt starts on a line of its own
                self.stdout.flush()

    async def read_line(self) -> str | None:
        """The next line typed, None at Ctrl-D. ``input()`` blocks until Enter, so it runs in
        a daemon thread: Ctrl-C quits without waiting for it."""
        typed: concurrent.futures.Future[str] = concurrent.futures.Future()

        def read() -> None:
            typed.set_running_or_notify_cancel()  # from now on, a cancel leaves it alone
            try:
                typed.set_result(input(self.prompt))
            except BaseException as exc:  # Ctrl-D's EOFError, or a real failure, for the caller
                typed.set_exception(exc)

        threading.Thread(target=read, name="console-input", daemon=True).start()
        try:
            return await asyncio.wrap_future(typed)
        except EOFError:
            return None

    @contextlib.contextmanager
    def _history(self) -> Iterator[None]:
        try:
            import readline  # line editing for input(), where Python has it
        except ImportError:
            yield
            return
        readline.set_history_length(HISTORY_LINES)
        with contextlib.suppress(OSError):  # none yet
            readline.read_history_file(self.history)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # the history is a nicety, not worth a crash
                readline.write_history_file(self.history)

    @contextlib.contextmanager
    def _logs_in_file(self) -> Iterator[None]:
        root = logging.getLogger()
        before = root.handlers[:]
        handler = RotatingFileHandler(
            self.log_file, maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8"
        )
        handler.setFormatter(before[0].formatter if before else None)
        root.handlers = [handler]
        try:
            yield
        finally:
            root.handlers = before
            handler.close()


@contextlib.contextmanager
def _terminal_restored(stream: TextIO) -> Iterator[None]:
    """Put the terminal back as it was: Ctrl-C leaves readline mid-line, in its own mode."""
    try:
        import termios
    except ImportError:  # Windows: no termios, and no readline to leave behind
        yield
        return
    saved = termios.tcgetattr(stream)
    try:
        yield
    finally:
        termios.tcsetattr(stream, termios.TCSADRAIN, saved)
