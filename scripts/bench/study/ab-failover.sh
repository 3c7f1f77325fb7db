#!/usr/bin/env bash
# Interleaved quick failover benches, for A/B comparisons on a machine whose speed drifts.
# Usage: scripts/bench/study/ab-failover.sh ROUNDS 'ARM-A ENV...' 'ARM-B ENV...' ...
#   e.g. ab-failover.sh 5 'base' 'nice0 BENCH_NICE=0' 'slots FTCP_RESTORES_AT_ONCE=128'
# AB_REPO=DIR in an arm runs that arm's failover.sh in another checkout (a worktree of the build
# to compare against, built: node_modules, native/build, dist).
# Each round runs every arm once (failover.sh with one 1-connection failover, the two
# 1000-connection ones, no flows) and prints, per app, the lease time and lease -> p99 echo,
# lease -> last restore, listens -> last restore (ms). Outputs stay in $AB_DIR (default /tmp/ab).
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=$1
shift
dir=${AB_DIR:-/tmp/ab}
mkdir -p "$dir"
for r in $(seq "$rounds"); do
  for arm in "$@"; do
    read -r tag envs <<<"$arm"
    out=$dir/$tag-$r.txt
    repo=.
    for e in $envs; do [[ $e == AB_REPO=* ]] && repo=${e#AB_REPO=}; done
    # shellcheck disable=SC2086 # the arm's settings split on spaces on purpose
    (cd "$repo" && env $envs BENCH_FAILOVER_REPEATS=1 BENCH_FLOWS=0 bash scripts/bench/failover.sh) >"$out" 2>&1 || true
    python3 - "$out" "$tag" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
out = []
for app in ("echo.py", "echo_events.py"):
    m = re.search(r"1000 connections \(" + re.escape(app) + r"[^)]*\): p50 (\d+) ms  p99 (\d+) ms.*\n.*lease-taken=(\d+).*listens-again=(\d+).*last-restored=(\d+)", t)
    if not m:
        out.append(f"{app}: no result")
        continue
    _, p99, lease, listens, last = map(int, m.groups())
    out.append(f"{app}: lease {lease} p99 {p99} (lease->p99 {p99 - lease}, lease->last {last - lease}, listens->last {last - listens})")
print(sys.argv[2], " | ".join(out), flush=True)
PY
  done
done
