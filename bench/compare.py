"""Run a bench script on this tree and on an earlier revision, interleaved, and print both.

This machine is noisy: a figure means something only beside a reference measured in the same
run. Each round runs the script once on each tree (alternating which goes first); the table
shows the median of every figure the script printed, and the ratio now / before.

Run: .venv/bin/python bench/compare.py REVISION bench/router_bench.py [--rounds 5] [-- ARGS...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?!\w)")  # not the 1 of "L1"


def figures(output: str) -> dict[str, float]:
    """The figure of each printed line: its first standalone number after "label: " (else its
    first), keyed by the line with its numbers blanked."""
    found = {}
    for line in output.splitlines():
        start = line.find(": ")
        match = NUMBER.search(line, start + 2 if start >= 0 else 0) or NUMBER.search(line)
        if match is not None:
            label = NUMBER.sub("#", line).strip()
            found[label] = float(match.group().replace(",", ""))
    return found


def run(tree: Path, script: str, args: list[str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(tree / script), *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return figures(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision", help="the reference, e.g. a commit or HEAD~3")
    parser.add_argument("script", help="a bench script, relative to the repository")
    parser.add_argument("--rounds", type=int, default=5)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:cut])
    options.args = argv[cut + 1 :]  # passed to the script
    with tempfile.TemporaryDirectory(prefix="quipbot-ref-") as scratch:
        reference = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(reference), options.revision],
            cwd=ROOT,
            check=True,
        )
        try:
            before: list[dict[str, float]] = []
            now: list[dict[str, float]] = []
            for round_ in range(options.rounds):
                order = [(reference, before), (ROOT, now)]
                for tree, results in order if round_ % 2 == 0 else order[::-1]:
                    results.append(run(tree, options.script, options.args))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(reference)], cwd=ROOT)
    print(f"{options.script}: median of {options.rounds} interleaved rounds")
    print(f"{'figure':<70} {'before':>12} {'now':>12} {'now/before':>10}")
    for label in now[0]:
        old = [r[label] for r in before if label in r]
        new = [r[label] for r in now if label in r]
        if not old:
            continue
        a, b = statistics.median(old), statistics.median(new)
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{label[:70]:<70} {a:>12,.2f} {b:>12,.2f} {ratio:>10}")


if __name__ == "__main__":
    main()
