#!/usr/bin/env bash
# First-wrapper (shim) benchmark (issue 5), in one run:
#  - 64-byte request/response latency, p50/p99, to a Node echo server: relay-only (--no-log),
#    the bare daemon (logging, app on plain node:net), and through the shim in `stream` and
#    `exact` mode; plus one log durability round trip as the shim sees it (gRPC append → durable);
#  - requests/s of examples/kv-server.mjs under 50 connections, with and without ftcp.
# Needs root; everything runs in namespaces it makes and removes.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_RTT_COUNT:-20000}
SECS=${BENCH_SECONDS:-10}
BASE=${FTCP_BENCH_DIR:-/var/tmp}
id=$$
H=ftcpb-$id-s
WORK=$(mktemp -d "$BASE/ftcp-shim-bench.XXXXXX")
. scripts/bench/ftcp-host.sh
machine_line

rtt() { # LABEL VIP MODE EXTRA-ARGS... → "p50 p99"
  local label=$1 vip=$2 mode=$3; shift 3
  start_ftcp "sb$((id % 1000))$label" "$vip" "$WORK/$label.out" --port 7000 "$@" -- node "$PWD/scripts/bench/shim-echo.mjs" 7000 "$mode"
  ip netns exec $H $PP client "$vip" 7000 2000 64 >/dev/null # warm-up
  local r; r=$(ip netns exec $H $PP client "$vip" 7000 "$COUNT" 64)
  if [ "$label" = exact ]; then
    durable=$(node scripts/bench/durable-rtt.mjs "unix:$WORK/log-$label/logd.sock" "sb$((id % 1000))$label" 2000)
  fi
  stop_ftcp
  echo "$(echo "$r" | field p50) $(echo "$r" | field p99)"
}
durable='{"p50":0,"p99":0}'
read -r relay50 relay99 < <(rtt relay 10.77.94.2 net --no-log)
read -r bare50 bare99 < <(rtt bare 10.77.95.2 net --data-dir "$WORK/log-bare")
read -r stream50 stream99 < <(rtt stream 10.77.96.2 stream --data-dir "$WORK/log-stream")
# The durability round trip is measured inside rtt() for the exact run (same daemon, idle log).
exact_out=$(mktemp)
{ rtt exact 10.77.97.2 exact --data-dir "$WORK/log-exact"; echo "$durable"; } >"$exact_out"
read -r exact50 exact99 < <(sed -n 1p "$exact_out")
dur50=$(sed -n 2p "$exact_out" | field p50)
rm -f "$exact_out"

# Key-value requests/s, 50 connections: plain (no ftcp, loopback in the namespace) and protected.
ip netns exec $H node examples/kv-server.mjs 7100 >/dev/null 2>&1 &
KVP=$!
sleep 1
kv_plain=$(ip netns exec $H node scripts/bench/kv-load.mjs 127.0.0.1 7100 50 "$SECS")
kill $KVP; wait $KVP 2>/dev/null || true
start_ftcp "sb$((id % 1000))kv" 10.77.98.2 "$WORK/kv.out" --port 7100 --data-dir "$WORK/log-kv" -- node "$PWD/examples/kv-server.mjs" 7100 1000
kv_ftcp=$(ip netns exec $H node scripts/bench/kv-load.mjs 10.77.98.2 7100 50 "$SECS")
stop_ftcp

python3 - "$relay50" "$relay99" "$bare50" "$bare99" "$stream50" "$stream99" "$exact50" "$exact99" "$dur50" "$kv_plain" "$kv_ftcp" <<'PY'
import json, sys
a = sys.argv[1:]
r50, r99, b50, b99, s50, s99, e50, e99, d50 = map(float, a[:9])
kp, kf = json.loads(a[9]), json.loads(a[10])
print("first-wrapper (shim) benchmark: 64 B request/response to a Node echo server")
print(f"  relay-only (--no-log, node:net):  p50 {r50:7.1f} us  p99 {r99:7.1f} us")
print(f"  bare daemon (logging, node:net):  p50 {b50:7.1f} us  p99 {b99:7.1f} us")
print(f"  shim, stream mode:                p50 {s50:7.1f} us  p99 {s99:7.1f} us  (adds {s50-b50:+.1f} us p50 over the bare daemon; target <= 25 us)")
print(f"  shim, exact mode:                 p50 {e50:7.1f} us  p99 {e99:7.1f} us  (adds {e50-b50:+.1f} us p50; target <= one durability round trip {d50:.1f} us + 50 = {d50+50:.1f} us)")
print(f"  key-value example, 50 connections: {kp['rps']} req/s without ftcp, {kf['rps']} req/s under ftcp with the shim (exact, checkpoint every 1 s) = {kf['rps']/max(1,kp['rps']):.2f}; errors {kp['errors']}/{kf['errors']}")
PY
