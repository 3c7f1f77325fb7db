#!/bin/sh
# Builds the native addon(s) in native/ with node-gyp. Uses the machine's Node headers
# when they are installed (no download), otherwise lets node-gyp find them.
# `node-gyp rebuild` wipes native/build first, so concurrent builds are serialised with a lock.
set -eu
cd "$(dirname "$0")/.."
NODEDIR_ARG=""
if [ -f /usr/include/node/common.gypi ]; then NODEDIR_ARG="--nodedir=/usr"; fi
exec flock /tmp/ftcp-native-build.lock npx --no-install node-gyp rebuild --directory native $NODEDIR_ARG
