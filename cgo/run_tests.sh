#!/bin/bash
# cgo/run_tests.sh -- `make test-go`: go vet, the Go suite against the release
# libaiw, the same suite built with `go test -asan` against the ASan+UBSan
# libaiw (with an explicit LeakSanitizer check at the end), and the sanitizer
# self-tests proving that an overflow, a use-after-free in libaiw and a leak
# are caught. Ends with `N passed, M failed`; exit status non-zero on failure.
#
# Environment (set by cgo/cgo.mk): AIW_PC_DIR, AIW_ASAN_PC_DIR, GOCACHE,
# AIW_BUILD_DIR (absolute), AIW_LSAN_SUPP.
set -u
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1
pass=0; fail=0
ok()  { echo "ok:   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# Counts `--- PASS` / `--- FAIL` lines (tests and subtests) of a go test -v log;
# a non-zero exit without a FAIL line (crash, sanitizer abort, leak) is one failure.
count() { # log rc what
  local p f
  p=$(grep -cE '^\s*--- PASS' "$1"); f=$(grep -cE '^\s*--- FAIL' "$1")
  pass=$((pass + p)); fail=$((fail + f))
  echo "$3: $p passed, $f failed (exit status $2)"
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then bad "$3 exited with status $2"; fi
}

log=$(mktemp "${TMPDIR:-/tmp}/aiw-go.XXXXXX")
trap 'rm -f "$log"' EXIT

echo "== go vet (release libaiw)"
if PKG_CONFIG_PATH=$AIW_PC_DIR go vet ./... ; then ok "go vet"; else bad "go vet"; fi
if [ -z "$(gofmt -l .)" ]; then ok "gofmt"; else bad "gofmt: $(gofmt -l . | tr '\n' ' ')"; fi

echo "== go test (release libaiw, GODEBUG=cgocheck=2)"
PKG_CONFIG_PATH=$AIW_PC_DIR GODEBUG=cgocheck=2 timeout 600 go test -count=1 -v ./... 2>&1 | tee "$log"
count "$log" "${PIPESTATUS[0]}" "go test"

echo "== go test -race (release libaiw)"
PKG_CONFIG_PATH=$AIW_PC_DIR timeout 900 go test -race -count=1 -v ./... > "$log" 2>&1
rc=$?
grep -E '^(--- FAIL|WARNING: DATA RACE|FAIL|ok|PASS)' "$log"
count "$log" "$rc" "go test -race"

echo "== go test -asan (ASan+UBSan libaiw, cgo C code with ASan+UBSan)"
asan_bin=$AIW_BUILD_DIR/aiworker-asan.test
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$AIW_LSAN_SUPP:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if PKG_CONFIG_PATH=$AIW_ASAN_PC_DIR \
   CGO_CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=undefined -fno-sanitize-recover=all" \
   go test -asan -c -o "$asan_bin" . ; then
  if ldd "$asan_bin" | grep -q "$AIW_BUILD_DIR/../asan/lib/libaiw.so\|/asan/lib/libaiw.so"; then
    ok "asan test binary links the sanitizer libaiw"
  else
    bad "asan test binary does not link build/asan/lib/libaiw.so"; ldd "$asan_bin"
  fi
  timeout 900 "$asan_bin" -test.count=1 -test.v > "$log" 2>&1
  rc=$?
  grep -E '^(--- FAIL|FAIL|PASS|aiworker: )|Sanitizer|runtime error' "$log"
  count "$log" "$rc" "go test -asan"
  if grep -q "aiworker: LeakSanitizer: no leaks" "$log"; then ok "LeakSanitizer found no leaks"; else bad "LeakSanitizer"; fi
  # The sanitizers must catch what they are there for.
  for t in "overflow:heap-buffer-overflow|insufficient space" "uaf:heap-use-after-free" "leak:detected memory leaks"; do
    name=${t%%:*}; want=${t#*:}
    AIW_ASAN_SELFTEST=$name timeout 120 "$asan_bin" > "$log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && grep -qE "$want" "$log"; then
      ok "sanitizer self-test '$name' caught ($(grep -oE "$want" "$log" | head -1))"
    else
      bad "sanitizer self-test '$name' not caught (exit status $rc)"; tail -5 "$log"
    fi
  done
else
  bad "go test -asan -c"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
