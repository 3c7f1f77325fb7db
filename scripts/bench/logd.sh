#!/usr/bin/env bash
# Log server benchmark (issue 3): appends/s and MB/s for 64 B, 1 KiB and 64 KiB records with fsync
# durability, beside the raw sequential write bandwidth of the same disk with fdatasync (measured
# here by scripts/bench/logd-rawsync.c); append-to-durable latency p50/p99 at low load beside the
# latency of one 64-byte write + fdatasync. Two deployments are measured:
#   logd      `ftcp logd` process, client in another process over gRPC on a unix socket
#   embedded  log server inside the writer's process (what `ftcp run` starts), appends go straight
#             into the store
# Environment: FTCP_BENCH_DIR (default /var/tmp) picks the disk; FTCP_BENCH_SECS (default 4).
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

raw_lat1=$("$RAW" "$WORK" lat 500)
raw_bw_4m=$(kv bw_mbps "$("$RAW" "$WORK" 4194304 "$SECS")")
raw_bw_1m=$(kv bw_mbps "$("$RAW" "$WORK" 1048576 "$SECS")")
raw_bw_64k=$(kv bw_mbps "$("$RAW" "$WORK" 65536 "$SECS")")
echo "raw write+fdatasync bandwidth: 4 MiB writes ${raw_bw_4m} MB/s, 1 MiB ${raw_bw_1m} MB/s, 64 KiB ${raw_bw_64k} MB/s"
echo "raw 64 B write+fdatasync latency: $raw_lat1"
echo

declare -A RPS MBPS LAT
run_mode() { # run_mode NAME TARGET
  local name=$1 target=$2 size out
  for size in 64 1024 65536; do
    out=$(node scripts/bench/logd-client.mjs "$target$( [ "$name" = embedded ] && echo "/t$size" )" throughput "$size" "$SECS")
    RPS[$name,$size]=$(kv rps "$out")
    MBPS[$name,$size]=$(kv mbps "$out")
  done
  LAT[$name]=$(node scripts/bench/logd-client.mjs "$target$( [ "$name" = embedded ] && echo "/lat" )" latency 64 500)
}

# ftcp logd in its own process.
node dist/cli/main.js logd --data-dir "$WORK/logd" >"$WORK/logd.out" 2>"$WORK/logd.err" &
LOGD_PID=$!
for _ in $(seq 100); do grep -q 'logd ready' "$WORK/logd.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'logd ready' "$WORK/logd.out" || { echo "logd did not start:"; cat "$WORK/logd.err"; exit 1; }
run_mode logd "unix:$WORK/logd/logd.sock"
kill "$LOGD_PID"; wait "$LOGD_PID" || true; LOGD_PID=""

run_mode embedded "embedded:$WORK/emb"
raw_lat2=$("$RAW" "$WORK" lat 500)
raw_bw_4m_after=$(kv bw_mbps "$("$RAW" "$WORK" 4194304 "$SECS")")
echo "raw write+fdatasync bandwidth after the runs: 4 MiB writes ${raw_bw_4m_after} MB/s"
# The disk's capability: the best raw figure of the run (the machine is shared; see docs).
best=$(printf '%s\n' "$raw_bw_4m" "$raw_bw_1m" "$raw_bw_64k" "$raw_bw_4m_after" | sort -g | tail -1)
printf '%-9s %-7s %12s %9s %14s\n' mode record records/s MB/s "MB/s ÷ raw"
for name in logd embedded; do
  for size in 64 1024 65536; do
    ratio=$(awk -v a="${MBPS[$name,$size]}" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    printf '%-9s %-7s %12s %9s %14s\n' "$name" "$size B" "${RPS[$name,$size]}" "${MBPS[$name,$size]}" "$ratio"
  done
done
echo
echo "append-to-durable latency, one 64 B record at a time:"
echo "  logd      ${LAT[logd]}"
echo "  embedded  ${LAT[embedded]}"
echo "  raw 64 B write+fdatasync: before $raw_lat1, after $raw_lat2"
echo
echo "targets: 64 KiB ≥ 0.7 × raw (best raw figure ${best} MB/s); 64 B ≥ 200000 records/s; p50 ≤ 2 × one fdatasync"
