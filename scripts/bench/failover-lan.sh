# Sourced by scripts/bench/failover.sh: a LAN made of namespaces (a switch namespace with a bridge,
# one namespace per host with a veth `lan0` on it) and a 3-node NATS JetStream cluster, one node per
# namespace. The same layout as test/helpers/lan-topology.ts and test/helpers/nats-cluster.ts.
# Caller sets: LAN_PREFIX (namespace prefix, e.g. ftcpb-PID), LAN_SUBNET (first three octets),
# NATS_DIR (config, logs and stores of the nodes). lan_destroy removes what lan_* made.
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
LAN_SW=$LAN_PREFIX-sw
LAN_HOSTS=()  # host names, in index order (address .10 + index)
NATS_TARGET=""

lan_ns() { echo "$LAN_PREFIX-$1"; }

lan_addr() { # HOST → its address on the LAN
  local i
  for i in "${!LAN_HOSTS[@]}"; do [ "${LAN_HOSTS[$i]}" = "$1" ] && { echo "$LAN_SUBNET.$((10 + i))"; return 0; }; done
  echo "no host $1 on the LAN" >&2
  return 1
}

lan_create() { # the switch: a namespace holding a bridge (STP off: ports forward at once)
  ip netns add "$LAN_SW"
  ip -n "$LAN_SW" link set lo up
  ip -n "$LAN_SW" link add br0 type bridge
  ip -n "$LAN_SW" link set br0 up
}

lan_host() { # HOST [NETNS] → plugs a host into the switch (NETNS: an existing namespace to use)
  local host=$1 ns=${2:-$(lan_ns "$1")} i=${#LAN_HOSTS[@]}
  LAN_HOSTS+=("$host")
  if [ ! -e "/var/run/netns/$ns" ]; then ip netns add "$ns"; ip -n "$ns" link set lo up; fi
  ip link add lan0 netns "$ns" type veth peer name "p$i" netns "$LAN_SW"
  ip -n "$LAN_SW" link set "p$i" master br0 up
  ip -n "$ns" addr add "$LAN_SUBNET.$((10 + i))/24" dev lan0
  ip -n "$ns" link set lan0 up
}

ns_pids() { [ -e "/var/run/netns/$1" ] && ip netns pids "$1" 2>/dev/null || true; }

# The "host lost" event for processes: every process of the namespaces stopped first (none can
# fork or restart another meanwhile), then killed.
kill_namespaces() { # NS...
  local pids="" ns
  for ns in "$@"; do pids="$pids $(ns_pids "$ns")"; done
  pids=$(echo $pids)
  [ -n "$pids" ] || return 0
  kill -STOP $pids 2>/dev/null || true
  kill -KILL $pids 2>/dev/null || true
}

del_namespaces() { # NS... → kills what runs there, then deletes them (missing ones are skipped)
  local ns
  kill_namespaces "$@"
  for ns in "$@"; do
    [ -e "/var/run/netns/$ns" ] || continue
    for _ in $(seq 50); do [ -z "$(ns_pids "$ns")" ] && break; sleep 0.1; done
    ip netns del "$ns" 2>/dev/null || echo "failover bench: could not delete namespace $ns" >&2
  done
}

nats_start() { # HOST1 HOST2 HOST3 → a JetStream cluster, one node per host; sets NATS_TARGET
  local hosts=("$@") routes="" i addr urls=""
  mkdir -p "$NATS_DIR"
  for i in "${!hosts[@]}"; do routes="$routes${routes:+, }nats-route://$(lan_addr "${hosts[$i]}"):6222"; done
  for i in "${!hosts[@]}"; do
    addr=$(lan_addr "${hosts[$i]}")
    urls="$urls${urls:+,}$addr:4222"
    # max_file_store: a logged upload keeps every byte in the stream for the whole run.
    cat >"$NATS_DIR/n$((i + 1)).conf" <<EOF
server_name: n$((i + 1))
listen: $addr:4222
max_payload: 8MB
jetstream { store_dir: "$NATS_DIR/n$((i + 1))", max_memory_store: 64MB, max_file_store: 64GB }
cluster { name: $LAN_PREFIX, listen: $addr:6222, routes: [ $routes ] }
EOF
    nsenter --net="/var/run/netns/$(lan_ns "${hosts[$i]}")" "$NATS_SERVER" -c "$NATS_DIR/n$((i + 1)).conf" 2>"$NATS_DIR/n$((i + 1)).log" >/dev/null &
    disown $! # killed with its namespace at the end: no "Killed" notice
  done
  NATS_TARGET=nats://$urls
  for _ in $(seq 300); do
    local ready=0
    for i in "${!hosts[@]}"; do grep -q 'Server is ready' "$NATS_DIR/n$((i + 1)).log" 2>/dev/null && ready=$((ready + 1)); done
    [ "$ready" = "${#hosts[@]}" ] && return 0
    sleep 0.1
  done
  echo "nats-server cluster not ready after 30 s:" >&2
  tail -n 5 "$NATS_DIR"/n*.log >&2
  return 1
}

lan_destroy() { # every host namespace of the LAN (with what runs there, NATS nodes too) and the switch
  local h nss=()
  for h in "${LAN_HOSTS[@]}"; do nss+=("$(lan_ns "$h")"); done
  del_namespaces "${nss[@]}" "$LAN_SW"
}
