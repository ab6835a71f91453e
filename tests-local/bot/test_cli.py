"""The command line as a user runs it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import pytest
from support import quipbot


@pytest.mark.parametrize("command", ["run", "console"])
def test_an_unusable_data_folder_stops_run_and_console_with_one_line(tmp_path, command):
    (tmp_path / "file").write_text("not a folder")
    result = quipbot(command, cwd=tmp_path, stdin="!ping\n", QUIPBOT_BOT__DATA_DIR="file/data")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "config error: bot.data_dir: cannot create or write file/data (Not a directory); "
        "set it to a writable folder"
    )
    assert "Traceback" not in result.stderr


def test_version_comes_from_the_installed_package(tmp_path):
    from importlib.metadata import version

    result = quipbot("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"quipbot {version('quipbot')}\n"


def test_options_are_accepted_after_the_subcommand_too(tmp_path):
    (tmp_path / "bad.toml").write_text('[bot]\nlanguage = "de"\n')
    for args in (["check", "--config", "bad.toml"], ["--config", "bad.toml", "check"]):
        result = quipbot(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == "config error: bot.language: must be one of fr, en (got 'de')\n"
    verbose = quipbot("console", "-v", cwd=tmp_path, stdin="!ping\n")
    assert verbose.stdout == "bot: 🏓 Pong !\n"
    assert " DEBUG " in verbose.stderr


def test_an_option_after_the_subcommand_wins_over_the_one_before(tmp_path):
    from bot.cli import _parser

    args = _parser().parse_args(["--config", "a.toml", "console", "--config", "b.toml", "-v"])
    assert (args.config, args.verbose, args.command) == ("b.toml", True, "console")
    assert _parser().parse_args(["-v", "run"]).verbose
