#!/usr/bin/env bash
# Installs ftcp on a Debian/Ubuntu host: Debian packages, the build (native addons + TypeScript),
# PREFIX/lib/ftcp with production node_modules, the `ftcp` command, systemd units, the ftcp group
# and /etc/ftcp/example.toml. Idempotent. DESTDIR stages everything under another root (packaging,
# tests): then nothing outside DESTDIR is touched (no packages, group, systemctl).
#
#   scripts/install.sh [--prefix DIR] [--rebuild | --no-build] [--no-deps]
#   scripts/install.sh --uninstall [--purge] [--prefix DIR]
set -euo pipefail

PREFIX=/opt/ftcp
MODE=install
PURGE=0
REBUILD=0
BUILD=1
DEPS=1
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
NODE_MIN=20.17.0

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --prefix DIR   install under DIR (default /opt/ftcp): DIR/bin/ftcp, DIR/lib/ftcp
  --rebuild      rebuild the native addon and TypeScript even when a build exists
  --no-build     never build: use the existing build, fail when there is none
  --no-deps      do not install Debian packages (you provide iproute2 and libpcap)
  --uninstall    remove everything the install put in place (configs you wrote stay)
  --purge        with --uninstall: also /etc/ftcp and the data in /var/lib/ftcp
Environment: DESTDIR=DIR stages the install under DIR.
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}
STEP=0
STEPS=7
step() {
  STEP=$((STEP + 1))
  echo "[$STEP/$STEPS] $*"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --rebuild) REBUILD=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-deps) DEPS=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path (got $PREFIX)" ;; esac
PREFIX="${PREFIX%/}"
[ "$PURGE" = 1 ] && [ "$MODE" != uninstall ] && die "--purge goes with --uninstall"
[ "$REBUILD" = 1 ] && [ "$BUILD" = 0 ] && die "--rebuild and --no-build exclude each other"

LIBDIR="$PREFIX/lib/ftcp"
BINDIR="$PREFIX/bin"
UNITDIR=/etc/systemd/system
CONFDIR=/etc/ftcp
LINK=/usr/local/bin/ftcp
MANIFEST="$LIBDIR/install-manifest"
D="$DESTDIR"
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---- host checks -------------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "unsupported host: ftcp needs Linux (found $(uname -s))"
debian_like() {
  [ -f /etc/debian_version ] && return 0
  [ -r /etc/os-release ] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}
if [ -z "$D" ]; then
  [ "$IS_ROOT" = 1 ] || die "run as root (it writes $PREFIX, /etc and installs packages), or stage with DESTDIR=DIR"
  [ -d /run/systemd/system ] || die "unsupported host: systemd is not running (no /run/systemd/system); stage the files with DESTDIR=DIR and install the units yourself"
fi

systemctl_live() {
  [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

# ---- uninstall -----------------------------------------------------------------------------
if [ "$MODE" = uninstall ]; then
  STEPS=3
  step "stopping services"
  if systemctl_live; then
    mapfile -t units < <(systemctl list-units --all --plain --no-legend 'ftcp@*.service' 'ftcp-logd.service' 2>/dev/null | awk '{print $1}')
    if [ ${#units[@]} -gt 0 ]; then
      systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
    fi
    systemctl disable ftcp-logd.service >/dev/null 2>&1 || true
    rm -f /etc/systemd/system/multi-user.target.wants/ftcp@*.service
  fi
  step "removing files"
  dirs=()
  if [ -f "$D$MANIFEST" ]; then
    while IFS=' ' read -r kind path; do
      case "$kind" in
        file|link) rm -f "$D$path" ;;
        tree) rm -rf "$D$path" ;;
        dir) dirs+=("$path") ;;
      esac
    done <"$D$MANIFEST"
  else
    # No manifest (an interrupted install): remove what an install would have made.
    rm -rf "$D$LIBDIR"
    rm -f "$D$BINDIR/ftcp" "$D$UNITDIR/ftcp-logd.service" "$D$UNITDIR/ftcp@.service" "$D$CONFDIR/example.toml"
    [ "$(readlink "$D$LINK" 2>/dev/null)" = "$BINDIR/ftcp" ] && rm -f "$D$LINK"
    dirs=("$LIBDIR" "$PREFIX/lib" "$BINDIR" "$PREFIX")
  fi
  rm -f "$D$MANIFEST"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$D$CONFDIR" "$D/var/lib/ftcp" "$D/run/ftcp"
  fi
  # Directories the install created, deepest first, and only when empty (your configs stay).
  for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do rmdir "$D${dirs[$i]}" 2>/dev/null || true; done
  step "system group and systemd"
  if [ -z "$D" ]; then
    if getent group ftcp >/dev/null; then groupdel ftcp 2>/dev/null || echo "install.sh: could not remove group ftcp (still in use?)" >&2; fi
    systemctl_live && systemctl daemon-reload
  fi
  [ -d "$D$CONFDIR" ] && echo "kept $CONFDIR (your service configs); --purge removes it"
  [ -d "$D/var/lib/ftcp" ] && echo "kept /var/lib/ftcp (log data); --purge removes it"
  echo "ftcp uninstalled"
  exit 0
fi

# ---- install -------------------------------------------------------------------------------
step "checking Node.js"
NODE="$(command -v node || true)"
[ -n "$NODE" ] || die "Node.js >= $NODE_MIN is required and not on PATH (Debian's nodejs is too old: use nodejs.org or NodeSource)"
NODE="$(readlink -f "$NODE")"
"$NODE" -e "const [a,b]=process.versions.node.split('.').map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)" ||
  die "Node.js >= $NODE_MIN is required, found $("$NODE" --version) at $NODE"
echo "  node $("$NODE" --version) at $NODE"

step "Debian packages"
need_debs=(iproute2)
if ! dpkg-query -W -f='${Status}\n' 'libpcap0.8*' 2>/dev/null | grep -q 'install ok installed'; then
  if apt-cache show libpcap0.8t64 >/dev/null 2>&1; then need_debs+=(libpcap0.8t64); else need_debs+=(libpcap0.8); fi
fi
have_build=0
[ -f "$SRC/dist/cli/main.js" ] && [ -f "$SRC/native/build/Release/ftcp_tun.node" ] && [ -f "$SRC/node_modules/cap/build/Release/cap.node" ] && have_build=1
if [ "$have_build" = 0 ] || [ "$REBUILD" = 1 ]; then need_debs+=(make g++ python3 libpcap-dev); fi
missing=()
for p in "${need_debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "  all present"
elif [ "$DEPS" = 0 ]; then
  echo "  --no-deps: not installing ${missing[*]}"
elif ! debian_like || ! command -v apt-get >/dev/null; then
  die "unsupported host: not Debian/Ubuntu (no apt-get); install ${missing[*]} yourself and rerun with --no-deps"
elif [ "$IS_ROOT" = 0 ]; then
  die "missing Debian packages: ${missing[*]} (run as root, or install them and rerun)"
else
  echo "  installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "build"
if [ "$have_build" = 1 ] && [ "$REBUILD" = 0 ]; then
  echo "  using the existing build in $SRC (--rebuild to redo it)"
elif [ "$BUILD" = 0 ]; then
  die "--no-build: no complete build in $SRC (need dist/cli/main.js, native/build/Release/ftcp_tun.node, node_modules/cap/build/Release/cap.node); run make build"
else
  command -v npm >/dev/null || die "npm is required to build (it comes with Node.js)"
  (
    cd "$SRC"
    if [ ! -d node_modules ] || [ "$REBUILD" = 1 ]; then
      echo "  npm ci (a few minutes)"
      npm ci --no-fund --no-audit --loglevel=error
    fi
    [ -f node_modules/cap/build/Release/cap.node ] || npm rebuild cap --loglevel=error
    echo "  native addon"
    npm run --silent build:native >/dev/null
    echo "  TypeScript"
    npm run --silent build:ts
  )
fi

step "files under $D$LIBDIR"
manifest=()
created_dirs=()
mkdir_p() { # records each directory it creates, for uninstall
  local dir="$1" parts="" p
  IFS='/' read -ra segs <<<"${dir#/}"
  for p in "${segs[@]}"; do
    parts="$parts/$p"
    if [ ! -d "$D$parts" ]; then
      mkdir -m 0755 "$D$parts"
      created_dirs+=("$parts")
    fi
  done
}
# A reinstall keeps the directories the first install created.
if [ -f "$D$MANIFEST" ]; then
  while IFS=' ' read -r kind path; do [ "$kind" = dir ] && created_dirs+=("$path"); done <"$D$MANIFEST"
fi
mkdir_p "$PREFIX/lib"
stage="$D$PREFIX/lib/.ftcp.new.$$"
rm -rf "$stage"
mkdir -p "$stage/native/build/Release" "$stage/node_modules" "$stage/docs"
trap 'rm -rf "$stage"' EXIT
cp -a "$SRC/dist" "$SRC/proto" "$SRC/package.json" "$SRC/package-lock.json" "$stage/"
cp -a "$SRC"/native/build/Release/*.node "$stage/native/build/Release/"
cp -a "$SRC"/docs/*.md "$stage/docs/" 2>/dev/null || true
echo "  production node_modules"
# Exactly the production dependency tree of the lockfile, copied from the build (no network).
(cd "$SRC" && npm ls --omit=dev --all --parseable 2>/dev/null || true) |
  sed -n "s#^$SRC/node_modules/##p" | grep -v '/node_modules/' | sort -u |
  while read -r pkg; do
    [ -d "$SRC/node_modules/$pkg" ] || continue
    mkdir -p "$stage/node_modules/$(dirname "$pkg")"
    cp -a "$SRC/node_modules/$pkg" "$stage/node_modules/$pkg"
  done
[ -f "$stage/node_modules/commander/package.json" ] || die "copying production node_modules failed (is $SRC/node_modules complete? run npm ci)"
# Build leftovers of the libpcap binding are not needed at run time.
rm -rf "$stage/node_modules/cap/build/Release/obj.target" "$stage/node_modules/cap/build/Release/.deps"
rm -rf "$D$LIBDIR"
mv "$stage" "$D$LIBDIR"
trap - EXIT
mkdir_p "$LIBDIR"
manifest+=("tree $LIBDIR")

step "ftcp command"
mkdir_p "$BINDIR"
DAEMON_NODE_FLAGS=$(cat "$SRC/scripts/daemon-node-flags")
STANDBY_NODE_FLAGS=$(cat "$SRC/scripts/standby-node-flags")
cat >"$D$BINDIR/ftcp.tmp" <<EOF
#!/bin/sh
# ftcp, installed by scripts/install.sh. Finds its files relative to itself (works under DESTDIR).
here=\$(dirname "\$(readlink -f "\$0")")
node=$NODE
[ -x "\$node" ] || node=node
# The daemons' node flags (scripts/daemon-node-flags): one V8 worker thread, so that while a
# thousand connections are restored V8's background compiles and GC take at most one core from
# the relay thread, the app and the kernel's packet work. A standby also compiles with a smaller
# inlining budget (scripts/standby-node-flags): the compiles a takeover sets off cost less
# (docs/PERFORMANCE.md, issue 8, sessions 7 and 8).
case "\$1" in
  run) exec "\$node" $DAEMON_NODE_FLAGS "\$here/../lib/ftcp/dist/cli/main.js" "\$@" ;;
  standby) exec "\$node" $DAEMON_NODE_FLAGS $STANDBY_NODE_FLAGS "\$here/../lib/ftcp/dist/cli/main.js" "\$@" ;;
esac
exec "\$node" "\$here/../lib/ftcp/dist/cli/main.js" "\$@"
EOF
chmod 0755 "$D$BINDIR/ftcp.tmp"
mv "$D$BINDIR/ftcp.tmp" "$D$BINDIR/ftcp"
manifest+=("file $BINDIR/ftcp")
mkdir_p "$(dirname "$LINK")"
if [ "$LINK" = "$BINDIR/ftcp" ]; then
  : # --prefix /usr/local: the command is already on PATH
elif [ -e "$D$LINK" ] && [ ! -L "$D$LINK" ]; then
  echo "  $LINK exists and is not a symlink: leaving it (use $BINDIR/ftcp)" >&2
else
  ln -sfn "$BINDIR/ftcp" "$D$LINK"
  manifest+=("link $LINK")
fi
echo "  $BINDIR/ftcp, $LINK -> $BINDIR/ftcp"

step "systemd units and config"
mkdir_p "$UNITDIR"
for u in ftcp-logd.service ftcp@.service; do
  sed -e "s#@BINDIR@#$BINDIR#g" -e "s#@LIBDIR@#$LIBDIR#g" "$SRC/packaging/systemd/$u.in" >"$D$UNITDIR/$u"
  chmod 0644 "$D$UNITDIR/$u"
  manifest+=("file $UNITDIR/$u")
done
mkdir_p "$CONFDIR"
install -m 0644 "$SRC/packaging/example.toml" "$D$CONFDIR/example.toml"
manifest+=("file $CONFDIR/example.toml")
echo "  $UNITDIR/ftcp-logd.service, $UNITDIR/ftcp@.service, $CONFDIR/example.toml"

step "system group and systemd"
if [ -z "$D" ]; then
  getent group ftcp >/dev/null || groupadd --system ftcp
  chgrp ftcp "$CONFDIR" && chmod 0750 "$CONFDIR"
  systemctl_live && systemctl daemon-reload
  echo "  group ftcp; systemctl daemon-reload"
else
  echo "  DESTDIR set: no group, no systemctl (done by the package or the target host)"
fi

# Deepest directories last, so uninstall can rmdir them in reverse.
{
  for dir in "${created_dirs[@]}"; do echo "dir $dir"; done | awk '!seen[$0]++'
  for m in "${manifest[@]}"; do echo "$m"; done
} >"$D$MANIFEST"

cat <<EOF
ftcp installed in $D$PREFIX
  next: cp $CONFDIR/example.toml $CONFDIR/NAME.toml, edit it, then systemctl enable --now ftcp@NAME
        (optional shared log server: systemctl enable --now ftcp-logd)
EOF
