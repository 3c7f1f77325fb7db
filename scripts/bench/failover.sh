#!/usr/bin/env bash
# Host-failover benchmark (issue 8), in one run:
#  - failover time from "primary host killed" to "client's data flows again", p50/p99/max, for 1
#    and for 1000 connections, with the lease settings, and the standby's own steps after the kill;
#  - upload throughput (iperf3, one stream) and 64-byte request/response latency through `ftcp run`
#    relay-only (--no-log), on the embedded log (fsync) and on JetStream R3 (3 NATS nodes),
#    each with the durability it promises;
#  - the apps' own share (scripts/bench/app-floor.py): start, and echoes on 1000 waiting connections.
# The LAN is namespaces on a bridge: client, primary, secondary, nats1..3 and bench (throughput).
# Needs root, `npm run build:ts` (the daemons run from dist/), nats-server and arping.
# BENCH_SECONDS (10), BENCH_RTT_COUNT (20000), BENCH_CONNS (1000), BENCH_LEASE_MS (1000),
# BENCH_FAILOVER_REPEATS (5: one-connection host failures), BENCH_NICE (-10: the daemons' --nice) change the run; BENCH_KEEP_DIR=DIR keeps the logs and a client-side pcap of each failover there.
# To study a takeover (helpers in scripts/bench/study/: interleaved A/B runs, a profile's window,
# a standby log's restore timeline): BENCH_PROFILE_DIR=DIR writes a V8 CPU profile of each standby daemon there,
# BENCH_STANDBY_NODE_FLAGS adds node flags to the standby daemons (e.g. --trace-deopt: see its .out);
# BENCH_STANDBY_LOG_LEVEL (info) sets their log level (debug: each adopted client's answer, timed);
# the daemons run with the node flags the installed `ftcp` gives them (BENCH_DAEMON_NODE_FLAGS replaces them);
# BENCH_FLOWS=0 skips the throughput and latency part.
# Everything it makes (namespaces ftcpb-PID-*, ftcp-p/s-SVC, temp dirs, processes) goes on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${BENCH_SECONDS:-10}
COUNT=${BENCH_RTT_COUNT:-20000}
LEASE_MS=${BENCH_LEASE_MS:-1000}
MANY=${BENCH_CONNS:-1000}
NICE=${BENCH_NICE:--10} # the daemons' --nice
BASE=${FTCP_BENCH_DIR:-/var/tmp}
id=$$
LAN_PREFIX=ftcpb-$id
LAN_SUBNET=10.$((192 + id % 60)).$(((id / 60) % 256))
H=$LAN_PREFIX-bench
WORK=$(mktemp -d "$BASE/ftcp-failover-bench.XXXXXX")
NATS_DIR=$WORK/nats
[ -f dist/cli/main.js ] || { echo "failover bench: dist/ is missing: run npm run build:ts" >&2; exit 1; }
. scripts/bench/ftcp-host.sh
. scripts/bench/failover-lan.sh

DAEMONS=()   # pids of the ftcp daemons started here
PCAPS=()     # tcpdump pids (BENCH_KEEP_DIR)
SERVICES=()  # service names used here (namespaces ftcp-[ps]-NAME / ftcp-NAME, /var/lib/ftcp/NAME)

stop_pid() { # PID SECONDS → SIGTERM, SIGKILL after SECONDS (disowned children: the shell reaps them)
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  set +e
  local p s
  # BENCH_KEEP_DIR=DIR: the daemons' logs, the clients' results and (failover) the client's pcap.
  if [ -n "${BENCH_KEEP_DIR:-}" ]; then
    for p in "${PCAPS[@]}"; do stop_pid "$p" 5; done
    mkdir -p "$BENCH_KEEP_DIR" && cp -r "$WORK"/fo-* "$WORK"/flow-* "$NATS_DIR"/*.log "$BENCH_KEEP_DIR"/ 2>/dev/null
  fi
  for p in "${DAEMONS[@]}"; do stop_pid "$p" 10; done
  for s in "${SERVICES[@]}"; do
    del_namespaces "ftcp-p-$s" "ftcp-s-$s" "ftcp-$s"
    rm -rf "/var/lib/ftcp/$s" "/var/lib/ftcp/p-$s" "/var/lib/ftcp/s-$s" # FTCP_NODE p / s: data dirs NODE-NAME
  done
  lan_destroy
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Starts `ftcp ARGS...` in namespace NS as node NODE (own FTCP_RUN_DIR); stdout → OUT.out, JSON
# log → OUT.log; waits (60 s at most) for READY on stdout. Sets DAEMON_PID.
start_daemon() { # NS NODE OUT READY ARGS...
  local ns=$1 node=$2 out=$3 ready=$4
  shift 4
  mkdir -p "$WORK/run-$node"
  # As the installed `ftcp` runs the daemons (scripts/install.sh); BENCH_DAEMON_NODE_FLAGS replaces it.
  # shellcheck disable=SC2206 # flags split on spaces on purpose
  local prof=(${BENCH_DAEMON_NODE_FLAGS-$(cat scripts/daemon-node-flags)})
  # shellcheck disable=SC2206 # flags split on spaces on purpose
  [ -z "${BENCH_DAEMON_NODE_FLAGS+x}" ] && [ "$node" = s ] && prof+=($(cat scripts/standby-node-flags))
  [ -n "${BENCH_PROFILE_DIR:-}" ] && [ "$node" = s ] && prof+=(--cpu-prof --cpu-prof-dir="$BENCH_PROFILE_DIR")
  # shellcheck disable=SC2206 # flags split on spaces on purpose
  [ -n "${BENCH_STANDBY_NODE_FLAGS:-}" ] && [ "$node" = s ] && prof+=($BENCH_STANDBY_NODE_FLAGS)
  local level=info
  [ "$node" = s ] && level=${BENCH_STANDBY_LOG_LEVEL:-info}
  FTCP_NODE=$node FTCP_RUN_DIR=$WORK/run-$node FTCP_LOG_LEVEL=$level \
    nsenter --net="/var/run/netns/$ns" node "${prof[@]}" dist/cli/main.js "$@" >"$out.out" 2>"$out.log" &
  DAEMON_PID=$!
  DAEMONS+=("$DAEMON_PID")
  disown "$DAEMON_PID" # killed on purpose: no "Killed" notice from the shell (it still reaps them)
  for _ in $(seq 1200); do
    grep -q "$ready" "$out.out" 2>/dev/null && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "failover bench: ftcp $1 not ready ($out):" >&2
  tail -n 20 "$out.out" "$out.log" >&2
  return 1
}

wait_pid() { # PID SECONDS → its exit code, or 124 after SECONDS (then it is killed)
  local pid=$1 i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 124; fi
  wait "$pid"
}

# ---- the LAN and the NATS cluster
lan_create
for h in client primary secondary nats1 nats2 nats3; do lan_host "$h"; done
lan_host bench "$H"
nats_start nats1 nats2 nats3
PRIMARY=$(lan_ns primary)
SECONDARY=$(lan_ns secondary)
CLIENT=$(lan_ns client)

# What the daemons resolve from --lease-ms (src/failover/lease-options.ts).
LEASE=$(node --input-type=module -e "
const m = await import('./dist/failover/lease-options.js');
const o = m.resolveLeaseOptions({ servers: ['x:1'], service: 's', ttlMs: $LEASE_MS, holder: { id: 'a', host: 'b' }, log: undefined });
console.log('ttl ' + o.ttlMs + ' ms (--lease-ms), primary renews every ' + o.renewEveryMs + ' ms (ttl/3) and acts at most ' + (o.ttlMs - o.marginMs) + ' ms after sending its last renewal (margin ' + o.marginMs + ' ms), standby tries to take it every ' + o.pollMs + ' ms, ' + o.replicas + ' replicas');
")

# ---- failover: kill the primary host under N open connections; each one's echo timed from the kill
# The app's interpreter, resolved once: a shim in front of it (pyenv: ~65 ms of shell) would be
# counted in every takeover's app start.
PY=$(python3 -c 'import sys; print(sys.executable)')
failover() { # N SVC VIP [APP] → "p50 p99 max missing" line, then the standby's steps line
  local n=$1 svc=$2 vip=$3 d=$WORK/fo-$2 # a directory per run: its open/go files are the handshake with the client
  mkdir -p "$d"
  SERVICES+=("$svc")
  local app=${4:-echo.py}
  local common=(--name "$svc" --vip "$vip" --port 9000 --log "$NATS_TARGET" --lease-ms "$LEASE_MS" --nice "$NICE" -- "$PY" "$PWD/test/apps/$app" 9000)
  start_daemon "$PRIMARY" p "$d/primary" 'ready vip=' run "${common[@]}"
  start_daemon "$SECONDARY" s "$d/standby" 'standby (following the log)' standby "${common[@]}"
  local spid=$DAEMON_PID
  # Both daemons' first warm-up drills take a CPU for a few seconds after start; connections opened
  # meanwhile would learn a client RTO inflated by the slowed log (output commit), which then bounds
  # the failover (docs/PERFORMANCE.md, session 7). A settled hot standby is what is measured.
  for _ in $(seq 600); do
    grep -q 'warm-up drills done' "$d/primary.log" 2>/dev/null && grep -q 'warm-up drills done' "$d/standby.log" 2>/dev/null && break
    [ "${FTCP_WARM_UP_CONNECTIONS:-1000}" = 0 ] && break
    sleep 0.05
  done
  local tp=""
  if [ -n "${BENCH_KEEP_DIR:-}" ]; then
    ip netns exec "$CLIENT" tcpdump -i lan0 -s 96 -U -w "$d/client.pcap" 2>/dev/null &
    tp=$!
    PCAPS+=("$tp")
    disown "$tp"
  fi
  ip netns exec "$CLIENT" python3 scripts/bench/recovery-client.py "$vip" 9000 "$n" "$d" >"$d/client.json" 2>"$d/client.err" &
  local cp=$!
  for _ in $(seq 2400); do [ -f "$d/open" ] && break; kill -0 $cp 2>/dev/null || break; sleep 0.05; done
  if [ ! -f "$d/open" ]; then echo "failover bench: the client did not open $n connections" >&2; cat "$d/client.err" >&2; return 1; fi
  # The host is lost: its LAN link, then its processes (daemon, and the app in its own namespace).
  # The link goes first, at the kill's timestamp, and the client sends at once: its bytes are in
  # flight at the moment of the failure. (Killing first took ~0.25 s of `ip netns pids` and signals
  # before the client even sent, which the figure then counted as failover time.) Nothing of the
  # host reaches the LAN from that moment; its processes are SIGKILLed right after.
  local kill_at
  kill_at=$(date +%s.%N)
  ip -n "$PRIMARY" link set lan0 down
  touch "$d/go"
  kill_namespaces "$PRIMARY" "ftcp-p-$svc"
  wait_pid $cp 90 || { echo "failover bench: client failed ($?)" >&2; cat "$d/client.err" >&2; }
  [ -z "$tp" ] || stop_pid "$tp" 5
  # The standby logs each restore as it happens; give the last ones a moment to reach the file.
  for _ in $(seq 50); do [ "$(grep -c 'connection restored' "$d/standby.log")" -ge "$n" ] && break; sleep 0.1; done
  stop_pid "$spid" 15
  del_namespaces "ftcp-p-$svc" "ftcp-s-$svc"
  ip -n "$PRIMARY" link set lan0 up
  [ -s "$d/client.json" ] || echo '{"arrivals": [], "missing": '"$n"'}' >"$d/client.json"
  python3 scripts/bench/failover-times.py "$kill_at" "$d/client.json" "$d/standby.log" "$n"
}
# Not in a subshell (a redirection only): the cleanup must know every daemon and service started.
# One connection: BENCH_FAILOVER_REPEATS (default 5) host failures, each at another moment of the
# primary's renewal cycle (the lease expires 0.67-1 s after the kill depending on it).
REPEATS=${BENCH_FAILOVER_REPEATS:-5}
for r in $(seq "$REPEATS"); do
  failover 1 "fo${id}a$r" "$LAN_SUBNET.$((100 + r))" >"$WORK/fo-1-$r.txt"
done
failover "$MANY" "fo${id}b" "$LAN_SUBNET.99" >"$WORK/fo-many.txt"
{ read -r fk; read -r sk; } <"$WORK/fo-many.txt"
# The same with an event-driven echo server (one thread, epoll): with a thread per connection
# (echo.py), a thousand echoes at once queue for Python's GIL, ~0.1-0.2 s after their restore.
failover "$MANY" "fo${id}e" "$LAN_SUBNET.98" echo_events.py >"$WORK/fo-many-events.txt"
{ read -r ek; read -r esk; } <"$WORK/fo-many-events.txt"
# The app's own share, without ftcp (scripts/bench/app-floor.py): start -> listening, then its
# $MANY connections already established with a byte each -> every echo. Three rounds each, on the
# loopback of the bench namespace, on this machine: a floor under "lease taken -> last echo".
floor() { ip netns exec "$H" "$PY" scripts/bench/app-floor.py 9100 "$MANY" 3 -- "$PY" "$PWD/test/apps/$1" 9100 | tr '\n' ' '; }
floor_echo=$(floor echo.py)
floor_events=$(floor echo_events.py)

echo "host-failover benchmark (issue 8)"
machine_line
echo "LAN: namespaces on one bridge (veth pairs): client, primary, secondary, bench, nats1-3; $("$NATS_SERVER" --version), 3 nodes, one namespace each"
echo "lease: $LEASE"
echo "daemons: node ${BENCH_DAEMON_NODE_FLAGS-$(cat scripts/daemon-node-flags); the standby also $(cat scripts/standby-node-flags)} (as the installed ftcp runs run/standby); nice $NICE (every thread of the daemons and the apps; -10 is the default); restores at once ${FTCP_RESTORES_AT_ONCE:-64}; TUN write-behind ${FTCP_TUN_WRITE_BEHIND:-restore}; warm-up drill ${FTCP_WARM_UP_CONNECTIONS:-1000} connections"
ones=()
for f in "$WORK"/fo-1-*.txt; do [ -e "$f" ] && ones+=("$f"); done
python3 - "$fk" "$sk" "$LEASE_MS" "$MANY" "$ek" "$esk" "$floor_echo" "$floor_events" "${ones[@]}" <<'PY'
import re, statistics, sys
fk, sk, lease, many, ek, esk, floor_echo, floor_events = sys.argv[1:9]
target = int(lease) * 1.5
runs = []
for path in sys.argv[9:]:
    f, s = open(path).read().split("\n")[:2]
    runs.append((f.split(), s))
ones = sorted(float(f[0]) for f, _ in runs if f[0] != "-")
missing = sum(int(f[3]) for f, _ in runs)
if ones:
    q = lambda x: ones[min(len(ones) - 1, int(x * len(ones)))]
    print(f"  failover, 1 connection, {len(runs)} host failures: p50 {statistics.median(ones):.0f} ms  p99 {q(0.99):.0f} ms  max {ones[-1]:.0f} ms  missing {missing}  (from the loss of the primary host to the echo; target <= {target:.0f} ms with a {lease} ms lease)")
for i, (f, s) in enumerate(runs, 1):
    print(f"    run {i}: echo at {f[0]} ms (client sent at +{f[4]} ms); standby after the kill (ms): {s}")
for app, f, s, fl in (("echo.py, a thread per connection", fk, sk, floor_echo), ("echo_events.py, one thread, epoll", ek, esk, floor_events)):
    p50, p99, mx, miss, sent = f.split()
    print(f"  failover, {many} connections ({app}): p50 {p50} ms  p99 {p99} ms  max {mx} ms  missing {miss}  (the client sent at +{sent} ms; target <= {target:.0f} ms)")
    print(f"    standby after the kill (ms): {s}")
    # Rounds of "start drain-p50 drain-p99 cpu"; the floor is the median round's start + drain p99.
    rounds = [list(map(float, fl.split()[i:i + 4])) for i in range(0, len(fl.split()), 4)]
    lt = re.search(r"lease-taken=(\d+)", s)
    if rounds and lt:
        start = statistics.median(r[0] for r in rounds)
        drain = statistics.median(r[2] for r in rounds)
        lease_at = int(lt.group(1))
        print(f"    the app alone (no ftcp, {len(rounds)} rounds): starts in {start:.0f} ms, echoes on {many} waiting connections by p99 {drain:.0f} ms; "
              f"lease -> p99 here {float(p99) - lease_at:.0f} ms, of which the app alone needs >= {start + drain:.0f}; with this lease time the floor is {lease_at + start + drain:.0f} ms, at the latest lease ({lease} ms + expiry and poll) ~{int(lease) + 40 + start + drain:.0f} ms")
PY
[ "${BENCH_FLOWS:-1}" = 0 ] && exit 0
# ---- throughput and latency in the bench namespace: relay-only, embedded fsync, JetStream R3
gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
APP="iperf3 -s -p 5201 >/dev/null & exec $PP server 7000"
flow() { # TAG VIP LOG-ARGS... → "gbit/s p50 p99"
  local tag=$1 vip=$2 svc=fo${id}$1 up lat
  shift 2
  SERVICES+=("$svc")
  start_daemon "$H" "" "$WORK/flow-$tag" 'ready vip=' run --name "$svc" --vip "$vip" --port 5201 --port 7000 --nice "$NICE" "$@" -- sh -c "$APP"
  local pid=$DAEMON_PID
  # A logging daemon's first warm-up drills take a CPU for a few seconds: measured after them.
  if [ "$tag" != r ] && [ "${FTCP_WARM_UP_CONNECTIONS:-1000}" != 0 ]; then
    for _ in $(seq 600); do grep -q 'warm-up drills done' "$WORK/flow-$tag.log" 2>/dev/null && break; sleep 0.05; done
  fi
  up=$(ip netns exec "$H" timeout $((SECS + 60)) iperf3 -c "$vip" -t "$SECS" -J | gbps)
  lat=$(ip netns exec "$H" timeout 600 "$PP" client "$vip" 7000 "$COUNT" 64)
  stop_pid "$pid" 30
  echo "$up $(echo "$lat" | field p50) $(echo "$lat" | field p99)"
}
flow r 10.77.95.2 --no-log >"$WORK/flow-r.txt"
# Every byte logged for the whole run (the default bound would stop protecting after 1 GiB).
flow l 10.77.96.2 --data-dir "$WORK/embedded" --max-replay-bytes 1099511627776 >"$WORK/flow-l.txt"
flow n 10.77.97.2 --log "$NATS_TARGET" --max-replay-bytes 1099511627776 >"$WORK/flow-n.txt"
read -r up_r p50_r p99_r <"$WORK/flow-r.txt"
read -r up_l p50_l p99_l <"$WORK/flow-l.txt"
read -r up_n p50_n p99_n <"$WORK/flow-n.txt"

python3 - "$SECS" "$COUNT" "$up_r" "$p50_r" "$p99_r" "$up_l" "$p50_l" "$p99_l" "$up_n" "$p50_n" "$p99_n" <<'PY'
import sys
secs, count = sys.argv[1], sys.argv[2]
v = sys.argv[3:]
rows = [
    ("relay-only (--no-log)", v[0:3], "nothing logged"),
    ("embedded log, fsync", v[3:6], "acknowledged after fdatasync on this host's disk (survives a power loss of this host, not the loss of its disk)"),
    ("JetStream R3", v[6:9], "acknowledged once 2 of 3 NATS nodes stored it (in their page cache: survives the loss of any one node or host and a crash of every nats-server process, not a simultaneous power loss of two nodes)"),
]
up_r = float(v[0])
print(f"  upload (iperf3, 1 stream, {secs} s) and 64 B request/response ({count} rounds), client and daemon in the bench namespace;")
print(f"  R3 nodes in their own namespaces on the bridge:")
p50_r = float(v[1])
for i, (name, (up, p50, p99), promise) in enumerate(rows):
    rel = f" = {float(up) / up_r:.2f} of relay-only" if i > 0 and up_r > 0 else ""
    added = f" (p50 {float(p50) - p50_r:+.1f} us)" if i > 0 else ""
    print(f"  {name:22s} upload {float(up):6.2f} Gbit/s{rel}; rtt p50 {float(p50):.1f} us, p99 {float(p99):.1f} us{added}")
    print(f"  {'':22s} durability: {promise}")
PY
