"""The command line as a user runs it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT


def quipbot(*args: str, cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("QUIPBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=clean_env | {"PYTHONPATH": str(ROOT)} | env,
    )


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
