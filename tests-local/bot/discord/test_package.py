"""What importing the Discord package does to discord.py."""

from __future__ import annotations

import os
import subprocess
import sys

from support import ROOT


def test_no_voice_warnings_at_start():
    """The bot has no voice: discord.py must not tell the streamer that PyNaCl is missing."""
    code = (
        "import logging; logging.basicConfig(); import bot.discord, discord;"
        "discord.Client(intents=discord.Intents.default())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "voice" not in result.stderr and "PyNaCl" not in result.stderr, result.stderr
