"""Helpers shared by the tests: stacks, servers and checks that several test modules use."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]  # tests-local/
ROOT = TESTS.parent  # the repository
