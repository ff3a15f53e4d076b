#!/bin/bash
# tests/schema/run.sh -- `make test-schema`: adding a response field is a
# regeneration, not a hunt.
#
#  1. The committed generated files are what the generator makes of the
#     tree today (check_generated.sh).
#  2. A copy of the working tree (what git tracks or would track, as it is
#     now, without build/) gets two fields in its idl/ai_service.proto --
#     SearchResponse.model_version (string) and SearchResult.indexed_at
#     (int64, inside the repeated results) -- and nothing else. `make lib
#     aiw-cli gen-go` there (the reference service compiles the same .proto
#     when it starts), then the fields are seen:
#       - through the C getters the generator gave them (probe.c), with the
#         symbols listed in lib/symbols.txt and exported in their version node;
#       - in the Go structs (schema_field_test.go, run in the copy's cgo/);
#       - in `aiw --json`, in proto field order, int64 as a string;
#       - in the gateway's JSON (its copy, built there);
#     filled by the reference service's `!set:FIELD=VALUE` directive.
#  3. No file of the copy but the .proto and the generated ones changed.
#
# Environment (from tests/schema/schema.mk): MAKE, LIB_VERSION,
# AIW_GEN_FILES, PYTHON, AIW_GOCACHE (a Go build cache to share);
# AIW_SCHEMA_KEEP=1 keeps the copy (its path is printed). Ends with
# `N passed, M failed`.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-/usr/bin/python3}
LIB_VERSION=${LIB_VERSION:?}
AIW_GEN_FILES=${AIW_GEN_FILES:?}
GOCACHE_DIR=${AIW_GOCACHE:-$ROOT/build/cgo/gocache}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
t0=$SECONDS
step() { echo "== $* ($((SECONDS - t0)) s)"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/aiw-schema.XXXXXX")
copy=$work/tree
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
  if [ -n "${AIW_SCHEMA_KEEP:-}" ]; then echo "test-schema: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

step "1. the committed generated files"
if bash tests/schema/check_generated.sh "$LIB_VERSION" $AIW_GEN_FILES > "$work/check.log" 2>&1; then
  ok "the generated files are what idl/ai_service.proto gives (check_generated.sh)"
else
  cat "$work/check.log"; bad "check_generated.sh"
fi

step "2. a copy of the tree"
mkdir -p "$copy"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$copy" -xf -
else
  tar --exclude=./build -cf - . | tar -C "$copy" -xf -
fi
# The pristine copy, to tell afterwards which files the build changed.
cp -a "$copy" "$work/before"
# Debian's packages are there already (this tree's make checked them).
mkdir -p "$copy/build" && touch "$copy/build/.deps-ok"

# The two fields, and not one line anywhere else.
if "$PYTHON" - "$copy/idl/ai_service.proto" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
for message, line in (("SearchResponse", "  string model_version = 5;  // added by tests/schema/run.sh"),
                      ("SearchResult", "  int64 indexed_at = 7;  // added by tests/schema/run.sh")):
    text, n = re.subn(r"(message %s \{\n(?:.*\n)*?)\}" % message, lambda m: m.group(1) + line + "\n}", text, count=1)
    assert n == 1, message
open(path, "w").write(text)
PY
then ok "added SearchResponse.model_version and SearchResult.indexed_at to the copy's idl/ai_service.proto"
else bad "could not edit the copy's idl/ai_service.proto"; fi

step "make lib aiw-cli gen-go in the copy"
if timeout 900 $MAKE -C "$copy" --no-print-directory -j"$(nproc)" lib aiw-cli > "$work/make.log" 2>&1 &&
   timeout 300 $MAKE -C "$copy" --no-print-directory gen-go >> "$work/make.log" 2>&1; then
  ok "make lib aiw-cli gen-go ($((SECONDS - t0)) s so far)"
else
  tail -n 40 "$work/make.log"; bad "make in the copy failed"
fi
grep '^gen: ' "$work/make.log"

step "3. the C API"
h=$copy/include/aiw.h
for decl in 'const char \*aiw_search_response_model_version(const aiw_search_response \*response);' \
            'const char \*aiw_search_response_model_version_with_len(const aiw_search_response \*response, size_t \*len);' \
            'int64_t aiw_search_result_indexed_at(const aiw_search_result \*result);'; do
  name=$(grep -o 'aiw_[a-z0-9_]*(' <<< "$decl" | head -n 1)
  if grep -q "^AIW_API $decl" "$h"; then ok "aiw.h declares ${name%(}"; else bad "aiw.h lacks: $decl"; fi
done
for sym in aiw_search_response_model_version aiw_search_response_model_version_with_len aiw_search_result_indexed_at; do
  listed=$(awk -v s="$sym" '$1 == s {print $2}' "$copy/lib/symbols.txt")
  node=AIW_$(cut -d. -f1-2 <<< "$LIB_VERSION")
  exported=$(nm -D --defined-only "$copy/build/lib/libaiw.so" 2>/dev/null | awk -v s="$sym" '{split($3, p, "@")} p[1] == s {print p[length(p)]}')
  if [ "$listed" = "$LIB_VERSION" ] && grep -q "^    $sym;" "$copy/lib/libaiw.map" && [ "$exported" = "$node" ]; then
    ok "$sym: in lib/symbols.txt since $LIB_VERSION, exported as $sym@@$node"
  else
    bad "$sym: listed '$listed', exported in node '$exported' (want $LIB_VERSION, $node)"
  fi
done

if $MAKE -C "$copy" --no-print-directory check-abi > "$work/abi.log" 2>&1 &&
   grep -q 'compatible additions only' "$work/abi.log"; then
  ok "the copy's make check-abi: the new getters are compatible additions, each in its version node"
else
  tail -n 20 "$work/abi.log"; bad "the copy's make check-abi"
fi

# The copy's reference service (it compiles the copy's .proto itself).
"$PYTHON" "$copy/tests/refservice/ai_worker_server.py" --port 0 > "$work/srv.out" 2> "$work/srv.err" &
srv=$!
port=
for _ in $(seq 200); do
  port=$(awk '/^LISTENING/ {print $2}' "$work/srv.out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$work/srv.err"; bad "the copy's reference service did not start"; }
target=127.0.0.1:$port

if cc -std=c11 -Wall -Wextra -Werror -I"$copy/include" tests/schema/probe.c -L"$copy/build/lib" \
     -Wl,-rpath,"$copy/build/lib" -laiw -o "$work/probe" 2> "$work/cc.log"; then
  out=$(timeout 60 "$work/probe" "$target" 2>&1)
  want='model_version=v7 len=2 same=1
null=""
results=2 indexed_at=1700000000123 indexed_at=1700000000123 null=0
default model_version="" indexed_at=0'
  if [ "$out" = "$want" ]; then ok "the C getters read both fields (and their defaults)"
  else bad "the C getters: got"$'\n'"$out"$'\n'"want"$'\n'"$want"; fi
else
  cat "$work/cc.log"; bad "probe.c does not compile against the copy's aiw.h"
fi

step "4. aiw --json"
aiw=$copy/build/bin/aiw
json=$(timeout 60 "$aiw" -t "$target" --json search --limit 1 '!set:model_version=v7' 2>&1)
if "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
assert list(d) == ["results", "totalCount", "success", "modelVersion"] and d["modelVersion"] == "v7", d
' "$json" 2> "$work/py.log"; then
  ok "aiw --json search: \"modelVersion\":\"v7\", last, in proto field order"
else
  cat "$work/py.log"; bad "aiw --json search '!set:model_version=v7': $json"
fi
json=$(timeout 60 "$aiw" -t "$target" --json search --limit 2 '!set:results.indexed_at=1700000000123' 2>&1)
if "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
assert len(d["results"]) == 2
for r in d["results"]:
    assert list(r)[-1] == "indexedAt" and r["indexedAt"] == "1700000000123", r
' "$json" 2> "$work/py.log"; then
  ok "aiw --json search: each result ends with \"indexedAt\":\"1700000000123\" (an int64: a string)"
else
  cat "$work/py.log"; bad "aiw --json search '!set:results.indexed_at=...': $json"
fi
json=$(timeout 60 "$aiw" -t "$target" --json search --limit 1 q 2>&1)
case $json in
  *modelVersion* | *indexedAt*) bad "aiw --json shows unset fields: $json" ;;
  '{"results":[{"assetId":"doc-001"'*) ok "aiw --json leaves both out when unset (proto3 defaults)" ;;
  *) bad "aiw --json search q: $json" ;;
esac

step "5. the Go structs"
cp tests/schema/schema_field_test.go "$copy/cgo/zz_schema_field_test.go"
if (cd "$copy/cgo" && GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1 GOCACHE=$GOCACHE_DIR \
      PKG_CONFIG_PATH=$copy/build/lib/pkgconfig timeout 600 go test -count=1 -run '^TestSchemaNewFields$' -v . \
      > "$work/go.log" 2>&1) && grep -q -- '--- PASS: TestSchemaNewFields' "$work/go.log"; then
  ok "Go: SearchResponse.ModelVersion and SearchResult.IndexedAt (int64), decoded by the Go package"
else
  tail -n 30 "$work/go.log"; bad "the Go package's structs in the copy"
fi
rm -f "$copy/cgo/zz_schema_field_test.go"
if (cd "$copy" && bash cgo/check_generated.sh > "$work/gencheck.log" 2>&1); then
  ok "the copy's cgo/ai_service.pb.go is what its .proto gives (make check-generated)"
else
  cat "$work/gencheck.log"; bad "the copy's make check-generated"
fi

step "6. the gateway's JSON"
# The gateway writes its answers from the schema (gateway/schema_json.go):
# its copy, built after gen-go, shows both fields with their .proto names.
gw=$copy/build/bin/aiw-backend
if timeout 900 $MAKE -C "$copy" --no-print-directory build/bin/aiw-backend >> "$work/make.log" 2>&1; then
  gwport=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$gw" -listen "127.0.0.1:$gwport" -ai-target "$target" > "$work/gw.out" 2>&1 &
  gwpid=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$gwport/api/v1/ai/health" && break
    sleep 0.05
  done
  post() { curl -s -X POST -H 'Content-Type: application/json' --data "$1" "http://127.0.0.1:$gwport/api/v1/ai/search"; }
  json=$(post '{"query":"!set:model_version=v7","limit":1}')
  if "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
assert list(d) == ["results", "total_count", "model_version"] and d["model_version"] == "v7", d
' "$json" 2> "$work/py.log"; then
    ok "the gateway's search answer: \"model_version\":\"v7\", after today's keys, in proto field order"
  else
    cat "$work/py.log"; bad "the gateway's search answer for '!set:model_version=v7': $json"
  fi
  json=$(post '{"query":"!set:results.indexed_at=1700000000123","limit":2}')
  if "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
assert len(d["results"]) == 2
for r in d["results"]:
    assert list(r)[-1] == "indexed_at" and r["indexed_at"] == "1700000000123", r
' "$json" 2> "$work/py.log"; then
    ok "the gateway's search results end with \"indexed_at\":\"1700000000123\" (an int64: a string)"
  else
    cat "$work/py.log"; bad "the gateway's search answer for '!set:results.indexed_at=...': $json"
  fi
  kill "$gwpid" 2>/dev/null
  wait "$gwpid" 2>/dev/null
else
  tail -n 30 "$work/make.log"; bad "make build/bin/aiw-backend in the copy"
fi

step "7. nothing but the .proto and the generated files changed"
generated=" idl/ai_service.proto cgo/ai_service.pb.go $AIW_GEN_FILES "
changed=$(diff -rq --exclude=build "$work/before" "$copy" 2>&1 | sed -e "s|^Files $work/before/\([^ ]*\) and .*|\1|" \
  -e "s|^Only in $work/before\(/*\)\([^:]*\): \(.*\)|gone \2/\3|" -e "s|^Only in $copy\(/*\)\([^:]*\): \(.*\)|new \2/\3|")
others=$(while read -r f; do
  [ -z "$f" ] && continue
  case "$generated" in *" $f "*) ;; *) echo "$f" ;; esac
done <<< "$changed")
if [ -z "$others" ]; then
  ok "only these changed: $(echo $changed)"
else
  bad "other files changed in the copy: $(echo $others)"
fi

echo "test-schema: $((SECONDS - t0)) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
