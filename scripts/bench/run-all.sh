#!/usr/bin/env bash
# Runs every benchmark in turn; each prints its own figures. Needs root (namespaces, TUN).
set -euo pipefail
cd "$(dirname "$0")/../.."
for b in scripts/bench/relay.sh scripts/bench/logd.sh scripts/bench/wrapper.sh scripts/bench/shim.sh scripts/bench/failover.sh; do
  if [ -f "$b" ]; then echo "=== $b"; bash "$b"; fi
done
