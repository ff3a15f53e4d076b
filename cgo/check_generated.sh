#!/bin/bash
# cgo/check_generated.sh -- `make check-generated`: the committed
# cgo/ai_service.pb.go is what Debian's protoc-gen-go makes of
# idl/ai_service.proto today (regenerate with `make gen-go`). Ends with
# `N passed, M failed`.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
if bash cgo/gen_go.sh "$tmp" && diff -u cgo/ai_service.pb.go "$tmp/ai_service.pb.go"; then
  echo "ok: cgo/ai_service.pb.go matches idl/ai_service.proto"; pass=1
else
  echo "FAIL: cgo/ai_service.pb.go is stale: run make gen-go"; fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
