#!/bin/bash
# lib/check_layering.sh -- `make check-layering`: lib/ in one direction.
#  1. Only the call engine's files (engine.h says which) include gRPC's
#     headers, directly or through engine.h; message code sees protobuf-c.
#  2. No circle of calls between lib/ files: from the objects' symbol
#     tables (who defines, who uses each aiw__ function), the graph of
#     files must have no cycle.
# Ends with `N passed, M failed`.
set -u
cd "$(dirname "$0")/.."
objdir=${1:-build/obj/lib}
pass=0; fail=0
ok()  { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# The list in engine.h's first comment, from "Only the engine's files" to "Calls go".
engine=$(awk '/Only the engine.s files include it/ {on = 1} on {print} /Calls go one way/ {on = 0}' lib/engine.h |
  grep -oE '[a-z_]+\.c' | sort -u)
[ -n "$engine" ] || { bad "engine.h does not list the engine's files"; echo "$pass passed, $fail failed"; exit 1; }
offenders=""
for f in lib/*.c; do
  base=$(basename "$f")
  grep -qx "$base" <<< "$engine" && continue
  if grep -Eq '^#include (<grpc/|<grpcpp/|"engine\.h")' "$f"; then offenders+=" $base"; fi
done
if grep -Eq '^#include (<grpc/|<grpcpp/|"engine\.h")' lib/internal.h; then offenders+=" internal.h"; fi
if [ -z "$offenders" ]; then ok "only the engine's $(wc -w <<< "$engine") files of $(ls lib/*.c | wc -l) in lib/ include gRPC"
else bad "gRPC headers included outside the engine:$offenders"; fi

# Edges file -> file from undefined aiw__ symbols to their definitions.
declare -A def
for o in "$objdir"/*.o; do
  for s in $(nm --defined-only "$o" 2>/dev/null | awk '$2 ~ /[TDBR]/ && $3 ~ /^aiw__/ {print $3}'); do def[$s]=$(basename "$o" .o); done
done
edges=$(for o in "$objdir"/*.o; do
  from=$(basename "$o" .o)
  for s in $(nm --undefined-only "$o" 2>/dev/null | awk '$2 ~ /^aiw__/ {print $2}'); do
    to=${def[$s]:-}
    [ -n "$to" ] && [ "$to" != "$from" ] && echo "$from $to"
  done
done | sort -u)
if cycle=$(tsort <<< "$edges" 2>&1 >/dev/null) && [ -z "$cycle" ]; then
  ok "no circle of calls between lib/ files ($(wc -l <<< "$edges") edges)"
else
  bad "a circle of calls between lib/ files: $(grep -o 'tsort: [a-z_]*' <<< "$cycle" | sed 's/tsort: //' | tr '\n' ' ')"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
