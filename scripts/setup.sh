#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh Debian/Ubuntu machine for building, testing
# and running ftcp: Debian packages, npm dependencies, the native addon and the TS build.
set -euo pipefail
cd "$(dirname "$0")/.."

# nats-server: the JetStream log backend's tests start their own cluster (issue 8).
DEB_PACKAGES=(iproute2 iperf3 tshark tcpdump nftables libpcap-dev protobuf-compiler python3 make g++ curl openssl systemd util-linux nats-server iputils-arping)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The package enables a nats-server service of its own on :4222; ftcp's tests and the log backend
  # run their own servers.
  if [[ " ${missing[*]} " == *" nats-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now nats-server >/dev/null 2>&1 || true
  fi
fi

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.ftcp-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci"
  npm ci --no-fund --no-audit --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "setup: building native addon and TypeScript"
npm run --silent build
