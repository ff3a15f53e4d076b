#!/bin/bash
# tests/schema/check_generated.sh VERSION FILE... -- `make check-generated-c`:
# the committed output of lib/gen/protoc-gen-aiw.py (the C message layer,
# the generated blocks of include/aiw.h, lib/symbols.txt, lib/libaiw.map, the
# CLI's JSON) is what the generator makes of the tree today: nobody edited a
# generated line by hand. (make regenerates these files itself when
# idl/ai_service.proto changes; this catches what it would not redo.) Ends
# with `N passed, M failed`.
set -u
cd "$(dirname "$0")/../.."
version=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
if ! protoc -Iidl --plugin=protoc-gen-aiw=lib/gen/protoc-gen-aiw.py --aiw_out="$tmp" \
     --aiw_opt=version="$version" idl/ai_service.proto; then
  echo "FAIL: lib/gen/protoc-gen-aiw.py failed on idl/ai_service.proto"
  echo "0 passed, 1 failed"
  exit 1
fi
for f in "$@"; do
  if diff -u "$f" "$tmp/$f"; then
    echo "ok: $f is what idl/ai_service.proto gives"; pass=$((pass + 1))
  else
    echo "FAIL: $f differs from what lib/gen/protoc-gen-aiw.py makes of idl/ai_service.proto (run make gen)"
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
