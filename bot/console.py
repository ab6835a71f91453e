"""The console adapter: chat with the bot in a terminal, or script it through piped stdin.

A line ``alice: !joke`` is spoken by viewer alice; a line without ``name:`` by the default user.
Replies go to stdout as ``bot: <text>``, one line each; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TextIO

from bot.app import App
from commands.types import ChatMessage, Platform, Role

SPEAKER = re.compile(r"^\s*([\w.\-]{1,25}):\s?(.*)$")
DEFAULT_USER = "you"


def parse_line(line: str, mods: set[str], default_user: str = DEFAULT_USER) -> ChatMessage:
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
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Answer each line, in order, until end of input."""
    mods = {m.lower() for m in (mods or set())}
    interactive = stdin.isatty()
    if interactive:
        print(f"quipbot console: type {app.router.prefix}help, Ctrl-D to quit", file=sys.stderr)
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        reply = await app.router.handle(parse_line(line.rstrip("\n"), mods))
        if reply is None:
            continue
        if not interactive:  # a script reads one final line per reply
            await reply.collect()
        stdout.write("bot: ")
        if reply.stream is None:
            stdout.write(_one_line(reply.text))
        else:
            async for chunk in reply.stream:
                stdout.write(_one_line(chunk))
                stdout.flush()
            if reply.blocked:  # the gate stopped it: the line shows the neutral words instead
                stdout.write(f"\r\x1b[2Kbot: {_one_line(reply.text)}")
        stdout.write("\n")
        stdout.flush()


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", " ")
