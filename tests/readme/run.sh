#!/bin/bash
# tests/readme/run.sh -- `make test-readme`: the examples of README.md (its C
# program and its Go program) and cgo/README.md (its complete Go example)
# are extracted, compiled against build/ and run against the reference
# service, so that the documentation cannot drift from the API. Their fixed
# target 127.0.0.1:50051 is replaced by the service's. Ends with
# `N passed, M failed`.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$root/build/readme
rm -rf "$work" && mkdir -p "$work"
pass=0; fail=0
ok()  { echo "ok:   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# block FILE HEADING LANG N: the N-th ```LANG block after the line HEADING.
block() {
  awk -v h="$2" -v lang="$3" -v n="$4" '
    $0 == h { after = 1; next }
    after && $0 == "```" lang { k++; if (k == n) { inside = 1; next } }
    inside && $0 == "```" { exit }
    inside { print }' "$1"
}

/usr/bin/python3 tests/refservice/ai_worker_server.py --port 0 > "$work/srv.out" 2> "$work/srv.err" < /dev/null &
srv=$!
trap 'kill $srv 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q LISTENING "$work/srv.out" && break; sleep 0.1; done
port=$(awk '/LISTENING/ {print $2}' "$work/srv.out")
[ -n "$port" ] || { echo "FAIL: the reference service did not start"; echo "0 passed, 1 failed"; exit 1; }
target=127.0.0.1:$port

# --- README.md: the C program -------------------------------------------------
block README.md "## The C API by example" c 1 | sed "s/127\.0\.0\.1:50051/$target/" > "$work/demo.c"
if [ ! -s "$work/demo.c" ]; then bad "README.md has no C example under 'The C API by example'"
elif ! cc -std=c11 -Wall -Wextra -Werror -o "$work/demo" "$work/demo.c" \
      $(PKG_CONFIG_PATH=build/lib/pkgconfig pkg-config --cflags --libs aiw) 2> "$work/demo.cc.log"; then
  bad "README.md's C example does not compile:"; cat "$work/demo.cc.log"
elif ! out=$("$work/demo" 2>&1); then bad "README.md's C example exits non-zero: $out"
elif ! grep -q "^1024 dims" <<< "$out"; then bad "README.md's C example printed: $out"
else ok "README.md's C example compiles (-Wall -Wextra -Werror) and runs"; fi

# --- Go programs: README.md's, and cgo/README.md's complete example ----------------
goprog() { # name source-file heading
  local dir=$work/$1
  mkdir -p "$dir"
  block "$2" "$3" go 1 | sed "s/127\.0\.0\.1:50051/$target/" > "$dir/main.go"
  cat > "$dir/go.mod" <<MOD
module readme/$1

go 1.19

require (
	github.com/thinkbank/libaiw/cgo v0.0.0
	google.golang.org/protobuf v1.28.1
)

replace github.com/thinkbank/libaiw/cgo => $root/cgo

replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
MOD
  if [ ! -s "$dir/main.go" ]; then bad "$2 has no Go example under '$3'"; return; fi
  if ! (cd "$dir" && GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1 GOCACHE=$work/gocache \
        PKG_CONFIG_PATH=$root/build/lib/pkgconfig go build -o prog . ) > "$dir/build.log" 2>&1; then
    bad "$2's Go example ('$3') does not build:"; cat "$dir/build.log"; return
  fi
  if out=$("$dir/prog" "$target" 2>&1); then ok "$2's Go example ('$3') builds and runs"
  else bad "$2's Go example ('$3') exits non-zero: $out"; fi
}
goprog readme-go README.md "## The Go package"
goprog cgo-readme-go cgo/README.md "## A complete example"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
