# Sourced by the ftcp benchmarks: a host namespace $H with `ftcp run` instances inside, a work
# directory $WORK and the pingpong latency probe $PP, all removed on exit.
# Caller sets: H (namespace name), WORK (directory). Optional: BENCH_CLEANUP (extra command).
# node-gyp rebuild wipes native/build, so the probe is compiled fresh for each run.
PP=$(mktemp -d /tmp/ftcp-pingpong.XXXXXX)/pingpong
cc -O2 -o "$PP" native/tools/pingpong.c
FTCP_PID=""

bench_cleanup() {
  set +e
  stop_ftcp
  for p in $(ip netns pids "$H" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$H" 2>/dev/null
  rm -rf "$WORK" "$(dirname "$PP")"
}
trap bench_cleanup EXIT
ip netns add "$H"
ip -n "$H" link set lo up

start_ftcp() { # NAME VIP OUT ARGS...
  local name=$1 vip=$2 out=$3
  shift 3
  # As the installed `ftcp` runs the daemon (scripts/install.sh); BENCH_DAEMON_NODE_FLAGS replaces it.
  # BENCH_NICE: the daemon's --nice (default -10, the daemon's own default).
  # shellcheck disable=SC2086 # flags split on spaces on purpose
  FTCP_LOG_LEVEL=info nsenter --net=/var/run/netns/$H node ${BENCH_DAEMON_NODE_FLAGS-$(cat scripts/daemon-node-flags)} dist/cli/main.js run --name "$name" --vip "$vip" --nice "${BENCH_NICE:--10}" "$@" >"$out" 2>&1 &
  FTCP_PID=$!
  for _ in $(seq 200); do grep -q 'ready vip=' "$out" 2>/dev/null && break; kill -0 $FTCP_PID 2>/dev/null || break; sleep 0.05; done
  if ! grep -q 'ready vip=' "$out"; then cat "$out" >&2; return 1; fi
  # A logging daemon's first warm-up drills take a CPU for a few seconds: measure after them.
  case " $* " in *" --no-log "*) return 0 ;; esac
  [ "${FTCP_WARM_UP_CONNECTIONS:-1000}" = 0 ] && return 0
  for _ in $(seq 600); do grep -q 'warm-up drills done' "$out" && return 0; sleep 0.05; done
  return 0
}
stop_ftcp() { if [ -n "$FTCP_PID" ]; then kill "$FTCP_PID" 2>/dev/null || true; wait "$FTCP_PID" 2>/dev/null || true; FTCP_PID=""; fi; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
machine_line() { echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); disk: $(findmnt -no SOURCE,FSTYPE -T "$WORK" | tr -s ' ')"; }
