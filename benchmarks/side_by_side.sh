#!/usr/bin/env bash
# Load runs of two commits side by side, alternated, on this machine (docs/SCALING.md, round 7):
#
#   benchmarks/side_by_side.sh [OLD [NEW [ROUNDS]]]
#
# OLD defaults to 44c3c44, the code issue 17 was filed on; NEW to HEAD; ROUNDS to 3. Figures of runs an
# hour apart are not comparable on a shared machine, so each round runs OLD then NEW at one level
# (BENCH_LOAD_LEARNERS, default 32; BENCH_LOAD_SECONDS, default 20; 2 web processes). Both run from
# temporary worktrees with this checkout's load harness (benchmarks/, devstack/, tests/processes.py)
# and their own code and Procfile; in a commit older than the test client's schema check, the harness's
# hooks into it are stubbed out. Needs `make deps` done in this checkout (its .venv is shared).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
old_commit=${1:-44c3c44}
new_commit=${2:-HEAD}
rounds=${3:-3}
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/old" 2>/dev/null || true
      git -C "$here" worktree remove --force "$work/new" 2>/dev/null || true
      rm -rf "$work"' EXIT

for side in old new; do
    commit=$old_commit
    [ "$side" = new ] && commit=$new_commit
    git -C "$here" worktree add -q --detach "$work/$side" "$commit"
    cp "$here"/benchmarks/{load,common,history,report}.py "$work/$side/benchmarks/"
    cp "$here"/tests/{processes,contract}.py "$work/$side/tests/"
    cp -r "$here"/devstack/. "$work/$side/devstack/"
    ln -s "$here/.venv" "$work/$side/.venv"
    (cd "$here" && find locale -name '*.mo' -exec cp --parents {} "$work/$side/" \; 2>/dev/null) || true
    if ! grep -q "STATUS_CODES" "$work/$side/conversation/errors.py"; then
        sed -i 's/^from tests import contract.*$//; s/^contract.state\["enabled"\] = False$//' \
            "$work/$side/benchmarks/load.py"
        sed -i 's/^from tests.contract import check_response$/check_response = lambda *a, **k: None  # noqa/' \
            "$work/$side/tests/processes.py"
    fi
done

for round in $(seq "$rounds"); do
    for side in old new; do
        log="$work/$side-$round.log"
        (cd "$work/$side" && BENCH_LOAD_WEB=2 BENCH_LOAD_LEARNERS="${BENCH_LOAD_LEARNERS:-32}" \
            BENCH_LOAD_SECONDS="${BENCH_LOAD_SECONDS:-20}" .venv/bin/python -m devstack bench load) > "$log" 2>&1 \
            || { echo "$side, round $round: the load run failed (last lines below)"; tail -5 "$log"; exit 1; }
        rate=$(grep '| 2 web, ' "$log" | head -1 | cut -d'|' -f3,5)
        cost=$(grep 'cost per journey' "$log" | tail -1)
        echo "$side ($(git -C "$work/$side" rev-parse --short HEAD)), round $round: journeys/s$rate; $cost"
    done
done
