#!/usr/bin/env bash
# The main job: protect a demo server with ftcp, keep a client connected to it, kill -9 the
# server twice while the client talks, and show the client never noticing. Needs root.
# DEMO_APP=kv (default: examples/kv-server.mjs on the shim, state shared across connections,
# checkpointed every second) or DEMO_APP=line (examples/line-server.mjs, plain node:net).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces, TUN devices): run it with sudo" >&2; exit 1; }
NAME=demo
VIP=${DEMO_VIP:-10.77.0.2}
DATA=$(mktemp -d /tmp/ftcp-demo.XXXXXX)
OUT=$DATA/ftcp.out
APP=${DEMO_APP:-kv}
case $APP in
  kv) CMD=(node "$PWD/examples/kv-server.mjs" 7000 1000) ;;
  line) CMD=(node "$PWD/examples/line-server.mjs" 7000) ;;
  *) echo "demo: DEMO_APP must be kv or line" >&2; exit 2 ;;
esac

cleanup() {
  set +e
  [ -n "${FTCP_PID:-}" ] && kill "$FTCP_PID" 2>/dev/null && wait "$FTCP_PID" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

echo "demo: starting  ftcp run --name $NAME --vip $VIP --port 7000 -- ${CMD[*]#$PWD/}"
FTCP_LOG_LEVEL=${FTCP_LOG_LEVEL:-info} node dist/cli/main.js run --name $NAME --vip "$VIP" --port 7000 --data-dir "$DATA/log" \
  -- "${CMD[@]}" >"$OUT" 2>&1 &
FTCP_PID=$!
for _ in $(seq 100); do grep -q 'ready vip=' "$OUT" && break; kill -0 $FTCP_PID 2>/dev/null || break; sleep 0.1; done
grep -q 'ready vip=' "$OUT" || { cat "$OUT" >&2; exit 1; }
grep 'ready vip=' "$OUT"

app_pid() { for p in $(ip netns pids ftcp-$NAME); do [ "$(cat /proc/$p/comm 2>/dev/null)" = node ] && echo "$p"; done; }

python3 scripts/demo-client.py "$VIP" 7000 6 "$APP" &
CLIENT=$!
for t in 2 4; do
  sleep 2
  pid=$(app_pid)
  echo "demo: *** kill -9 $pid (the server process) ***"
  kill -9 $pid
done
wait $CLIENT && verdict=0 || verdict=$?
echo
python3 scripts/demo-log.py < "$OUT"
if [ $verdict -eq 0 ]; then
  echo "demo: the connection survived two kill -9 of the server: no reset, no lost or wrong byte."
else
  echo "demo: FAILED (see above)"; exit 1
fi
