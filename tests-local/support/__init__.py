"""Helpers shared by the tests: stacks, servers and checks that several test modules use."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]  # tests-local/
ROOT = TESTS.parent  # the repository


def quipbot(*args: str, cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` as a user runs it, without the developer's QUIPBOT_* settings."""
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
