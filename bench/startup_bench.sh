#!/usr/bin/env bash
# Start-up time and peak RSS of `quipbot console` answering one !joke (targets: ≤ 1 s, ≤ 60 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
for run in 1 2 3; do
    out=$(cd "$workdir" && echo 'alice: !joke' | /usr/bin/time -v "$OLDPWD/$BIN/quipbot" console 2>&1 >/dev/null)
    wall=$(grep 'Elapsed (wall clock)' <<<"$out" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' <<<"$out" | awk '{print $NF}')
    echo "run $run: wall ${wall} (m:ss), peak RSS $((rss / 1024)) MB"
done
