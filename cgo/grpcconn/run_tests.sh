#!/bin/bash
# cgo/grpcconn/run_tests.sh -- `make test-grpcconn`: gofmt and go vet of the
# package and the bench client, the Go tests (the shared table over
# grpcconn.Conn and grpc-go's ClientConn, and grpcconn's own) plain and with
# -race, then the bench smoke (bench/grpcconn/run.sh --smoke). Counts the
# `--- PASS` / `--- FAIL` lines (tests and subtests) and the smoke's runs;
# ends with `N passed, M failed`; exit status non-zero on failure.
#
# Environment (set by grpcconn.mk): the Go variables (GOFLAGS, GOPROXY,
# GOCACHE, PKG_CONFIG_PATH, ...), GRPCCONN_LDFLAGS (the protobuf conflict
# policy), GRPCCONN_BENCH (the bench binary), GRPCCONN_BENCH_DIR (where
# bench_server is), PYTHON_GRPC.
set -u
cd "$(dirname "$0")"
: "${GRPCCONN_LDFLAGS:=}"
pass=0; fail=0
ok()  { echo "ok:   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# count LOG RC WHAT: a non-zero exit without a FAIL line (build error,
# panic, timeout) is one failure.
count() {
  local p f
  p=$(grep -cE '^\s*--- PASS' "$1"); f=$(grep -cE '^\s*--- FAIL' "$1")
  pass=$((pass + p)); fail=$((fail + f))
  echo "$3: $p passed, $f failed (exit status $2)"
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then bad "$3 exited with status $2"; fi
}

log=$(mktemp "${TMPDIR:-/tmp}/grpcconn-test.XXXXXX")
trap 'rm -f "$log"' EXIT

if [ ! -f gen/ai_service/ai_service_grpc.pb.go ]; then
  bad "gen/ai_service is missing: run make grpcconn-gen"
fi
if [ -z "$(gofmt -l $(ls *.go) ../../bench/grpcconn/*.go)" ]; then ok "gofmt"; else bad "gofmt: $(gofmt -l $(ls *.go) ../../bench/grpcconn/*.go | tr '\n' ' ')"; fi
if go vet . && (cd ../../bench/grpcconn && go vet .); then ok "go vet"; else bad "go vet"; fi

echo "== go test (the shared table and grpcconn's own tests)"
timeout 600 go test -count=1 -v -ldflags="$GRPCCONN_LDFLAGS" . 2>&1 | grep -v '^=== \|call.cc:' | tee "$log"
count "$log" "${PIPESTATUS[0]}" "go test"

echo "== go test -race"
timeout 900 go test -race -count=1 -v -ldflags="$GRPCCONN_LDFLAGS" . > "$log" 2>&1
rc=$?
grep -E '^(--- FAIL|WARNING: DATA RACE|FAIL|ok|PASS)' "$log"
count "$log" "$rc" "go test -race"

echo "== bench smoke (bench/grpcconn/run.sh --smoke)"
if [ -n "${GRPCCONN_BENCH:-}" ]; then
  bash ../../bench/grpcconn/run.sh --smoke --build-dir "${GRPCCONN_BENCH_DIR:-../../build/bench}" \
    --bin "$GRPCCONN_BENCH" --python "${PYTHON_GRPC:-/usr/bin/python3}" > "$log" 2>&1
  rc=$?
  cat "$log"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    pass=$((pass + p)); fail=$((fail + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && bad "bench smoke exited with status $rc"
  else
    bad "bench smoke: no summary line (exit status $rc)"
  fi
else
  bad "bench smoke: GRPCCONN_BENCH not set (run through make test-grpcconn)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
