#!/bin/sh
# Regenerates src/log/gen/ from proto/ with protoc + ts-proto (devDependency). The generated code
# is committed, so a build needs neither protoc nor this script.
set -eu
cd "$(dirname "$0")/.."
OUT=src/log/gen
rm -rf "$OUT"
mkdir -p "$OUT"
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$OUT" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,useExactTypes=true \
  --ts_proto_opt=forceLong=number,oneof=unions-value,env=browser,useOptionals=none,outputClientImpl=false \
  --ts_proto_opt=snakeToCamel=true,unrecognizedEnum=true,useDate=false \
  -I proto \
  proto/ftcp/v1/log.proto proto/grpc/health/v1/health.proto
echo "generated $(find "$OUT" -name '*.ts' | wc -l) files in $OUT"
