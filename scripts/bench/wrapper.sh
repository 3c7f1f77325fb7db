#!/usr/bin/env bash
# Second-wrapper benchmark (issue 4), in one run:
#  - recovery time from "app listening again" to "connection carries new data", p50/p99, for 1
#    and for 1000 connections (the app's own restart time is not counted);
#  - upload throughput (iperf3, one stream) with logging on (embedded log server, fsync) beside
#    relay-only (--no-log) and beside the disk's own write+fdatasync bandwidth;
#  - 64-byte request/response latency with logging on beside relay-only.
# Needs root; everything runs in namespaces it makes and removes.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${BENCH_SECONDS:-10}
COUNT=${BENCH_RTT_COUNT:-20000}
BASE=${FTCP_BENCH_DIR:-/var/tmp}
id=$$
H=ftcpb-$id-h
WORK=$(mktemp -d "$BASE/ftcp-wrapper-bench.XXXXXX")
. scripts/bench/ftcp-host.sh
gcc -O2 -o "$WORK/rawsync" scripts/bench/logd-rawsync.c
gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
APP="iperf3 -s -p 5201 >/dev/null & exec $PP server 7000"

machine_line

# Throughput: relay-only, then logged. Latency: both daemons up at once (an idle one takes no CPU)
# and BENCH_RTT_PAIRS (default 3) interleaved pairs, relay-only then logged: the machine's load
# moves both, and the added latency is the median of the pairs' differences.
PAIRS=${BENCH_RTT_PAIRS:-3}
start_ftcp wb$((id % 1000))r 10.77.91.2 "$WORK/relay.out" --port 5201 --port 7000 --no-log -- sh -c "$APP"
RELAY_PID=$FTCP_PID
up_r=$(ip netns exec $H iperf3 -c 10.77.91.2 -t "$SECS" -J | gbps)
# Every byte logged for the whole run (the default bound would stop protecting after 1 GiB).
start_ftcp wb$((id % 1000))l 10.77.92.2 "$WORK/log.out" --port 5201 --port 7000 --data-dir "$WORK/log" --max-replay-bytes 1099511627776 -- sh -c "$APP"
up_l=$(ip netns exec $H iperf3 -c 10.77.92.2 -t "$SECS" -J | gbps)
lat_pairs=""
for _ in $(seq "$PAIRS"); do
  lat_r=$(ip netns exec $H $PP client 10.77.91.2 7000 "$COUNT" 64)
  lat_l=$(ip netns exec $H $PP client 10.77.92.2 7000 "$COUNT" 64)
  lat_pairs+="$(echo "$lat_r" | field p50),$(echo "$lat_r" | field p99),$(echo "$lat_l" | field p50),$(echo "$lat_l" | field p99) "
done
stop_ftcp
FTCP_PID=$RELAY_PID
stop_ftcp
disk=$("$WORK/rawsync" "$WORK" 1048576 "$SECS" | sed -n 's/.*bw_mbps=\([^ ]*\).*/\1/p')

# Recovery time, 1 and 1000 connections.
recovery() { # N → prints "p50 p99 missing"
  local n=$1 name=wb$((id % 1000))c$1 d="$WORK/rec$1"
  mkdir -p "$d"
  start_ftcp "$name" 10.77.93.2 "$d/ftcp.out" --port 9000 --data-dir "$d/log" -- python3 "$PWD/test/apps/echo.py" 9000
  ip netns exec $H python3 scripts/bench/recovery-client.py 10.77.93.2 9000 "$n" "$d" >"$d/client.json" &
  local cp=$!
  for _ in $(seq 1200); do [ -f "$d/open" ] && break; sleep 0.05; done
  kill -9 $(ip netns pids ftcp-$name)
  touch "$d/go"
  wait $cp || true
  stop_ftcp
  python3 - "$d/ftcp.out" "$d/client.json" <<'PY'
import json, sys
listen = None
for line in open(sys.argv[1]):
    if 'listens again' in line:
        listen = json.loads(line)["time"] / 1000.0
c = json.load(open(sys.argv[2]))
ms = sorted((t - listen) * 1000 for t in c["arrivals"])
p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print(f"{p(0.5):.1f} {p(0.99):.1f} {c['missing']}")
PY
}
read -r r1_p50 r1_p99 r1_miss < <(recovery 1)
read -r rk_p50 rk_p99 rk_miss < <(recovery 1000)

python3 - "$up_r" "$up_l" "$disk" "$lat_pairs" \
  "$r1_p50" "$r1_p99" "$r1_miss" "$rk_p50" "$rk_p99" "$rk_miss" <<'PY'
import statistics, sys
a = sys.argv[1:4] + [None, None, None, None] + sys.argv[5:]
up_r, up_l, disk = float(a[0]), float(a[1]), float(a[2])
pairs = [tuple(map(float, p.split(","))) for p in sys.argv[4].split()]
added = [l50 - r50 for (r50, _, l50, _) in pairs]
p50r = statistics.median(p[0] for p in pairs); p99r = statistics.median(p[1] for p in pairs)
p50l = statistics.median(p[2] for p in pairs); p99l = statistics.median(p[3] for p in pairs)
disk_gbps = disk * 8 / 1000
print("second-wrapper benchmark")
print(f"  recovery, 1 connection:     p50 {a[7]} ms  p99 {a[8]} ms  (target <= 50 ms; missing {a[9]})")
print(f"  recovery, 1000 connections: p50 {a[10]} ms  p99 {a[11]} ms  (target <= 1000 ms; missing {a[12]})")
print(f"  upload, relay-only:         {up_r:.2f} Gbit/s")
print(f"  upload, logged (fsync):     {up_l:.2f} Gbit/s = {up_l/disk_gbps:.2f} of the disk's write+fdatasync bandwidth ({disk:.0f} MB/s), {up_l/up_r:.2f} of relay-only")
print(f"    (target >= 0.7 of the disk, or >= 0.5 of relay-only if the disk is faster)")
print(f"  rtt 64 B, {len(pairs)} interleaved pairs (relay-only -> logged, p50 us): " + ", ".join(f"{r:.1f} -> {l:.1f}" for (r, _, l, _) in pairs))
print(f"  rtt 64 B, relay-only:       p50 {p50r:.1f} us  p99 {p99r:.1f} us  (medians of the pairs)")
print(f"  rtt 64 B, logged:           p50 {p50l:.1f} us  p99 {p99l:.1f} us  (added p50: median of the pairs {statistics.median(added):+.1f} us, range {min(added):+.1f} .. {max(added):+.1f}; target <= 20 us)")
PY
