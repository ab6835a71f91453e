"""The ``quipbot`` command line: run, console, check, twitch-auth."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from config.settings import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quipbot", description=__doc__, parents=[_common_options()]
    )
    parser.set_defaults(config=None, verbose=False)
    common = _common_options()  # fresh: parents share actions, and set_defaults changed those
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", parents=[common], help="start every enabled adapter (console if none)")
    console = sub.add_parser(
        "console", parents=[common], help="chat with the bot in the terminal or via stdin"
    )
    console.add_argument(
        "--mod",
        action="append",
        default=[],
        metavar="NAME",
        help="make NAME a moderator (repeatable)",
    )
    console.add_argument(
        "--limits", action="store_true", help="apply cooldowns and rate limits as in real chat"
    )
    check = sub.add_parser(
        "check", parents=[common], help="validate the config and reach every configured dependency"
    )
    check.add_argument(
        "--local",
        action="store_true",
        help="only the data folder and Redis, no LLM or platform (a container's healthcheck)",
    )
    twitch_auth = sub.add_parser(
        "twitch-auth",
        parents=[common],
        help="get the Twitch tokens: guides you through the OAuth grants",
    )
    twitch_auth.add_argument(
        "--port",
        type=int,
        default=4343,
        help="local port of the OAuth redirect, http://localhost:PORT/oauth/callback (4343)",
    )
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes, before or after its name (quipbot check -v)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand not given the option keeps what was given before its name.
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML config file (default: $QUIPBOT_CONFIG, then ./quipbot.toml)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logs on stderr",
    )
    return common


class _Version(argparse.Action):
    """``--version``, read from the installed package only when asked: reading package
    metadata costs about 50 ms, more than a console start should pay."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, argparse.SUPPRESS, nargs=0, help="print the version and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("quipbot")
        except PackageNotFoundError:
            installed = "unknown (not installed: pip install .)"
        print(f"quipbot {installed}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check":
        from bot.check import run_checks

        findings = await run_checks(settings, local=args.local)
        for finding in findings:
            print(finding, file=sys.stdout if finding.ok else sys.stderr)
        return 0 if all(f.ok for f in findings) else 1

    if args.command == "twitch-auth":
        from bot.twitch import run_twitch_auth

        return await run_twitch_auth(settings, port=args.port)

    from bot.app import describe, enabled_adapters

    if args.command == "console":
        return await _console(settings, mods=set(args.mod), enforce_limits=args.limits)

    print(describe(settings), file=sys.stderr)
    adapters = enabled_adapters(settings)
    if adapters == ["console"]:
        print("quipbot: nothing else is enabled, so chat runs in this console", file=sys.stderr)
        return await _console(settings, mods=set(), enforce_limits=False)
    return await _run_adapters(settings, adapters)


async def _run_adapters(settings: Settings, names: list[str]) -> int:
    from bot.adapters import run_adapters
    from bot.app import StorageUnavailable, build_app
    from bot.contracts import AdapterUnavailable

    app = build_app(settings)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:  # docker stop sends SIGTERM: shut down as cleanly as on Ctrl-C
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await app.start()
        await run_adapters(app, names)
    except (AdapterUnavailable, StorageUnavailable) as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:
        return 0
    finally:
        await app.aclose()
    return 0


async def _console(settings: Settings, *, mods: set[str], enforce_limits: bool) -> int:
    from bot.app import StorageUnavailable, build_app
    from bot.console import run_console

    app = build_app(settings, enforce_limits=enforce_limits)
    try:
        await app.start()
        await run_console(app, mods=mods)
    except StorageUnavailable as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    finally:
        await app.aclose()
    return 0
