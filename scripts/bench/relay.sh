#!/usr/bin/env bash
# Relay benchmark (issue 2): iperf3 throughput (one stream, both directions) and 64-byte
# request/response latency, (a) directly between two namespaces over veth, (b) through
# `ftcp run --no-log`. Prints the figures and the ratios. Needs root; removes what it makes.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${BENCH_SECONDS:-10}
COUNT=${BENCH_RTT_COUNT:-20000}
# Latency is measured in RUNS interleaved pairs (veth, then ftcp): other jobs on the machine move
# both figures, and a pair taken back to back moves together.
RUNS=${BENCH_RTT_RUNS:-5}
# BENCH_ONLY=latency skips iperf3 (a quick A/B of the request/response path only).
ONLY=${BENCH_ONLY:-all}
# The daemon runs with the node flags the installed `ftcp` gives `ftcp run` (scripts/install.sh);
# BENCH_DAEMON_NODE_FLAGS replaces them ("" = none).
DAEMON_NODE_FLAGS=${BENCH_DAEMON_NODE_FLAGS-$(cat scripts/daemon-node-flags)}
id=$$
A=ftcpb-$id-a; B=ftcpb-$id-b; H=ftcpb-$id-h; NAME=bench$((id % 1000))
# node-gyp rebuild wipes native/build, so the probe is compiled fresh for each run.
PP=$(mktemp -d /tmp/ftcp-pingpong.XXXXXX)/pingpong
cc -O2 -o "$PP" native/tools/pingpong.c

cleanup() {
  set +e
  [ -n "${FTCP_PID:-}" ] && kill "$FTCP_PID" 2>/dev/null && wait "$FTCP_PID" 2>/dev/null
  rm -rf "$(dirname "$PP")"
  for n in $A $B $H; do
    for p in $(ip netns pids $n 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del $n 2>/dev/null
  done
}
trap cleanup EXIT

gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# (a) veth between two namespaces
ip netns add $A; ip netns add $B
ip link add veth-$id-a netns $A type veth peer name veth-$id-b netns $B
ip -n $A addr add 10.203.0.1/24 dev veth-$id-a; ip -n $A link set veth-$id-a up; ip -n $A link set lo up
ip -n $B addr add 10.203.0.2/24 dev veth-$id-b; ip -n $B link set veth-$id-b up; ip -n $B link set lo up
ip netns exec $B $PP server 7000 & sleep 0.5
up_a=0 down_a=0 up_b=0 down_b=0
if [ "$ONLY" != latency ]; then
  ip netns exec $B iperf3 -s -D -1 >/dev/null; sleep 0.3
  up_a=$(ip netns exec $A iperf3 -c 10.203.0.2 -t $DURATION -J | gbps)
  ip netns exec $B iperf3 -s -D -1 >/dev/null; sleep 0.3
  down_a=$(ip netns exec $A iperf3 -c 10.203.0.2 -t $DURATION -R -J | gbps)
fi

# (b) through ftcp run --no-log, the daemon in its own "host" namespace
ip netns add $H; ip -n $H link set lo up
# shellcheck disable=SC2086 # flags split on spaces on purpose
nsenter --net=/var/run/netns/$H node $DAEMON_NODE_FLAGS dist/cli/main.js run --name $NAME --vip 10.77.90.2 --port 5201 --port 7000 --no-log -- \
  sh -c "iperf3 -s -p 5201 >/dev/null & exec $PP server 7000" > /tmp/ftcp-bench-$id.out 2>&1 &
FTCP_PID=$!
for _ in $(seq 100); do grep -q 'ready vip=' /tmp/ftcp-bench-$id.out && break; sleep 0.1; done
grep -q 'ready vip=' /tmp/ftcp-bench-$id.out || { cat /tmp/ftcp-bench-$id.out; exit 1; }
rss_max=0
sample_rss() { while kill -0 $FTCP_PID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$FTCP_PID/status 2>/dev/null || echo 0); echo "$r"; sleep 0.2; done; }
sample_rss > /tmp/ftcp-bench-$id.rss & RSS_PID=$!
if [ "$ONLY" != latency ]; then
  up_b=$(ip netns exec $H iperf3 -c 10.77.90.2 -t $DURATION -J | gbps)
  down_b=$(ip netns exec $H iperf3 -c 10.77.90.2 -t $DURATION -R -J | gbps)
fi
lat_pairs=()
for _ in $(seq "$RUNS"); do
  lat_a=$(ip netns exec $A $PP client 10.203.0.2 7000 $COUNT 64)
  lat_b=$(ip netns exec $H $PP client 10.77.90.2 7000 $COUNT 64)
  lat_pairs+=("$lat_a" "$lat_b")
done
kill $RSS_PID 2>/dev/null || true
rss_max=$(sort -n /tmp/ftcp-bench-$id.rss | tail -1)
rm -f /tmp/ftcp-bench-$id.rss /tmp/ftcp-bench-$id.out

python3 - "$up_a" "$down_a" "$up_b" "$down_b" "$rss_max" "${lat_pairs[@]}" <<'PY'
import json, os, statistics, sys
ua, da, ub, db, rss = map(float, sys.argv[1:6])
pairs = [(json.loads(a), json.loads(b)) for a, b in zip(sys.argv[6::2], sys.argv[7::2])]
med = lambda xs: statistics.median(xs)
p50a, p99a = med([a["p50"] for a, _ in pairs]), med([a["p99"] for a, _ in pairs])
p50b, p99b = med([b["p50"] for _, b in pairs]), med([b["p99"] for _, b in pairs])
added = [b["p50"] - a["p50"] for a, b in pairs]
print(f"relay benchmark: iperf3 one stream {int(float(os.environ.get('BENCH_SECONDS', 10)))} s, 64-byte request/response")
print(f"  (a) veth direct        upload {ua:6.2f} Gbit/s  download {da:6.2f} Gbit/s  rtt p50 {p50a:7.1f} us  p99 {p99a:7.1f} us")
print(f"  (b) ftcp run --no-log  upload {ub:6.2f} Gbit/s  download {db:6.2f} Gbit/s  rtt p50 {p50b:7.1f} us  p99 {p99b:7.1f} us")
if ua > 0 and da > 0:
    print(f"  throughput ratio (b)/(a): upload {ub/ua:.2f}  download {db/da:.2f}   (target >= 0.5)")
print("  rtt p50 pairs (a -> b): " + ", ".join(f"{a['p50']:.1f} -> {b['p50']:.1f}" for a, b in pairs))
print(f"  latency added: p50 {med(added):+.1f} us (median of {len(pairs)} pairs, range {min(added):+.1f} .. {max(added):+.1f})"
      f"  p99 {p99b - p99a:+.1f} us   (target p50 <= 20 us)")
print(f"  daemon RSS under load: {rss/1024:.0f} MB   (target <= 150 MB)")
PY
