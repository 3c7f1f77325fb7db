#!/usr/bin/env bash
# Log server benchmark (issue 3): appends/s and MB/s for 64 B, 1 KiB and 64 KiB records with fsync
# durability, beside the raw sequential write bandwidth of the same disk with fdatasync (measured
# here by scripts/bench/logd-rawsync.c); append-to-durable latency p50/p99 at low load beside the
# latency of one 64-byte write + fdatasync. Two deployments are measured:
#   logd      `ftcp logd` process, client in another process on its unix socket: appends over the
#             framed transport (the default), and over gRPC (FTCP_LOG_FRAMED=0) for the latency
#   embedded  log server inside the writer's process (what `ftcp run` starts), appends go straight
#             into the store
# And the shim's case (issue 5): a small append over gRPC while an in-process writer's group
# commit is on its way to disk, beside the same append alone, with pipelined group commit (default)
# and with one commit at a time (FTCP_LOG_COMMITS_IN_FLIGHT=1); and records/s of 50 writers that
# each wait for their record to be durable before the next (25 in-process, 25 over gRPC), both ways.
# Environment: FTCP_BENCH_DIR (default /var/tmp) picks the disk; FTCP_BENCH_SECS (default 4);
# FTCP_BENCH_LAT_WARMUP (default 2000) appends back to back before each latency measurement.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${FTCP_BENCH_SECS:-4}
BASE=${FTCP_BENCH_DIR:-/var/tmp}
WORK=$(mktemp -d "$BASE/ftcp-logd-bench.XXXXXX")
LOGD_PID=""
cleanup() {
  if [ -n "$LOGD_PID" ]; then kill "$LOGD_PID" 2>/dev/null || true; wait "$LOGD_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -f dist/log/client.js ] || [ ! -f dist/cli/main.js ]; then npm run --silent build:ts >/dev/null 2>&1 || true; fi
RAW="$WORK/logd-rawsync"
gcc -O2 -o "$RAW" scripts/bench/logd-rawsync.c

kv() { # kv KEY "k=v k=v" → v
  sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "disk: $(findmnt -no SOURCE,FSTYPE -T "$WORK" | tr -s ' ') ($WORK)"
echo

# The machine (and its disk) may be shared: each figure of ours is paired with a raw figure
# measured just before it, and the ratio is taken within the pair.
declare -A RPS MBPS RAWBW RPC LAT RAWLAT
GRPC_RTT=""
LAT_PAIR_TEXT=""
BW_PAIR_TEXT=""
raw_bw() { kv bw_mbps "$("$RAW" "$WORK" 4194304 "$SECS")"; }
start_logd() { # start_logd DATA_DIR [FLAGS]: an `ftcp logd` of its own for one run
  node dist/cli/main.js logd --data-dir "$@" >"$WORK/logd.out" 2>"$WORK/logd.err" &
  LOGD_PID=$!
  for _ in $(seq 100); do grep -q 'logd ready' "$WORK/logd.out" 2>/dev/null && break; sleep 0.1; done
  grep -q 'logd ready' "$WORK/logd.out" || { echo "logd did not start:"; cat "$WORK/logd.err"; exit 1; }
}
stop_logd() {
  kill "$LOGD_PID"; wait "$LOGD_PID" || true; LOGD_PID=""
}
TARGET=""
target_for() { # target_for MODE RUN: sets TARGET to a client target on a fresh data directory
  if [ "$1" = logd ]; then start_logd "$WORK/logd-$2"; TARGET="unix:$WORK/logd-$2/logd.sock"; else TARGET="embedded:$WORK/emb-$2"; fi
}
run_mode() { # run_mode MODE: throughput per record size, then latency
  local name=$1 size out
  for size in 64 1024 65536; do
    RAWBW[$name,$size]=$(raw_bw)
    target_for "$name" "$size"
    out=$(node scripts/bench/logd-client.mjs "$TARGET" throughput "$size" "$SECS")
    [ "$name" = logd ] && stop_logd
    RPS[$name,$size]=$(kv rps "$out")
    MBPS[$name,$size]=$(kv mbps "$out")
    RPC[$name,$size]=$(kv records_per_commit "$out")
  done
  RAWLAT[$name]=$("$RAW" "$WORK" lat 500)
  target_for "$name" lat
  LAT[$name]=$(node scripts/bench/logd-client.mjs "$TARGET" latency 64 500)
  if [ "$name" = logd ]; then
    # The same writer over gRPC instead of the framed unix-socket transport.
    RAWLAT[grpc]=$("$RAW" "$WORK" lat 500)
    LAT[grpc]=$(FTCP_LOG_FRAMED=0 node scripts/bench/logd-client.mjs "$TARGET" latency 64 500)
    stop_logd
    # The same with --durability memory: what each transport's round trip alone costs.
    start_logd "$WORK/logd-mem" --durability memory
    FRAMED_RTT=$(node scripts/bench/logd-client.mjs "unix:$WORK/logd-mem/logd.sock" latency 64 500)
    GRPC_RTT=$(FTCP_LOG_FRAMED=0 node scripts/bench/logd-client.mjs "unix:$WORK/logd-mem/logd.sock" latency 64 500)
    stop_logd
  fi
  return 0
}

echo "raw write+fdatasync bandwidth at the start: 4 MiB writes $(raw_bw) MB/s," \
  "1 MiB $(kv bw_mbps "$("$RAW" "$WORK" 1048576 "$SECS")") MB/s, 64 KiB $(kv bw_mbps "$("$RAW" "$WORK" 65536 "$SECS")") MB/s"

run_mode logd
run_mode embedded

# The disk's latency and bandwidth move between runs (the VM's disk is shared): the two logd
# figures against their targets are also taken as interleaved pairs (raw, then ours, just after)
# and the median of the pairs' ratios is reported (FTCP_BENCH_PAIRS, default 5 and 3).
PAIRS=${FTCP_BENCH_PAIRS:-5}
median() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
LAT_PAIRS=()
start_logd "$WORK/logd-pairs"
for _ in $(seq "$PAIRS"); do
  r=$(kv p50_us "$("$RAW" "$WORK" lat 300)")
  o=$(kv p50_us "$(node scripts/bench/logd-client.mjs "unix:$WORK/logd-pairs/logd.sock" latency 64 300)")
  LAT_PAIRS+=("$(awk -v o="$o" -v r="$r" 'BEGIN { printf "%.2f", o / r }')")
  LAT_PAIR_TEXT+="$o/$r "
done
stop_logd
BW_PAIRS=()
for i in $(seq $(((PAIRS + 1) / 2))); do
  r=$(raw_bw)
  start_logd "$WORK/logd-bw$i"
  o=$(kv mbps "$(node scripts/bench/logd-client.mjs "unix:$WORK/logd-bw$i/logd.sock" throughput 65536 "$SECS")")
  stop_logd
  BW_PAIRS+=("$(awk -v o="$o" -v r="$r" 'BEGIN { printf "%.2f", o / r }')")
  BW_PAIR_TEXT+="$o/$r "
done
OVERLAP=$(node scripts/bench/logd-overlap.mjs "$WORK/overlap" 300)
OVERLAP1=$(FTCP_LOG_COMMITS_IN_FLIGHT=1 node scripts/bench/logd-overlap.mjs "$WORK/overlap1" 300)
CLOSED=$(node scripts/bench/logd-closed-loop.mjs "$WORK/closed" "$SECS")
CLOSED1=$(FTCP_LOG_COMMITS_IN_FLIGHT=1 node scripts/bench/logd-closed-loop.mjs "$WORK/closed1" "$SECS")

printf '%-9s %-8s %11s %8s %10s %8s %11s\n' mode record records/s MB/s "raw MB/s" "÷ raw" "recs/commit"
for name in logd embedded; do
  for size in 64 1024 65536; do
    ratio=$(awk -v a="${MBPS[$name,$size]}" -v b="${RAWBW[$name,$size]}" 'BEGIN { printf "%.2f", a / b }')
    printf '%-9s %-8s %11s %8s %10s %8s %11s\n' "$name" "$size B" "${RPS[$name,$size]}" "${MBPS[$name,$size]}" \
      "${RAWBW[$name,$size]}" "$ratio" "${RPC[$name,$size]:-?}"
  done
done
echo
echo "append-to-durable latency, one 64 B record every 2 ms, after ${FTCP_BENCH_LAT_WARMUP:-2000} back to back (a warm server and writer; raw = 64 B write+fdatasync, same spacing, just before):"
for name in logd grpc embedded; do
  label=$name; [ "$name" = logd ] && label="logd (framed unix socket, the default)"; [ "$name" = grpc ] && label="logd (gRPC)"
  printf '  %-40s %-28s raw %s\n' "$label" "${LAT[$name]}" "${RAWLAT[$name]}"
done
echo "  logd with --durability memory (the round trip, no disk): framed $FRAMED_RTT; gRPC $GRPC_RTT"
echo
echo "a small gRPC append while an in-process commit is in flight (the shim after the daemon), embedded, fsync:"
echo "  pipelined (default):   $OVERLAP"
echo "  one commit at a time:  $OVERLAP1"
echo "50 writers each waiting for its record to be durable (25 in-process, 25 gRPC), embedded, fsync:"
echo "  pipelined (default):   $CLOSED"
echo "  one commit at a time:  $CLOSED1"
echo
echo "logd (framed), interleaved pairs with the raw figure measured just before:"
echo "  append-to-durable p50 ÷ raw p50: ${LAT_PAIRS[*]} → median $(median "${LAT_PAIRS[@]}")  (µs: $LAT_PAIR_TEXT)"
echo "  64 KiB MB/s ÷ raw 4 MiB MB/s:    ${BW_PAIRS[*]} → median $(median "${BW_PAIRS[@]}")  (MB/s: $BW_PAIR_TEXT)"
echo
echo "targets: 64 KiB ≥ 0.7 × raw (4 MiB write+fdatasync); 64 B ≥ 200000 records/s; p50 ≤ 2 × one fdatasync"
