#!/bin/bash
# examples/go-backend/run_tests.sh -- `make test-backend`: go vet, the
# gateway's httptest suite against the reference AI service, and the
# headless-Chromium end-to-end check. Counts top-level tests (go vet counts
# as one check) and ends with `N passed, M failed`; exit status non-zero on
# any failure. A package that fails without a failing test (build error,
# TestMain failure, panic, timeout) counts as one failure.
set -u
cd "$(dirname "$0")"
log=$(mktemp "${TMPDIR:-/tmp}/aiw-backend-test.XXXXXX")
trap 'rm -f "$log"' EXIT

vet_pass=0; vet_fail=0
echo "--- go vet ./..."
if go vet ./...; then
  echo "--- PASS: go vet"; vet_pass=1
else
  echo "--- FAIL: go vet"; vet_fail=1
fi

# -p 1: the httptest suite and the browser check each start a reference
# service; running them one after the other keeps a 2-core machine calm.
go test -count=1 -p 1 -v -timeout 600s ./... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

read -r passed failed < <(awk '
  /^--- PASS: / { pass++; blockfail += 0 }
  /^--- FAIL: / { fail++; blockfail++ }
  /^(ok|FAIL|\?)[ \t]+[^ \t]+/ {
    if ($1 == "FAIL" && blockfail == 0) { fail++; print "run_tests: package " $2 " failed without a failing test: counted as 1 failure" > "/dev/stderr" }
    blockfail = 0
  }
  END { print pass + 0, fail + 0 }' "$log")

passed=$((passed + vet_pass)); failed=$((failed + vet_fail))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "run_tests: go test exited with status $rc but reported no failure: counted as 1 failure"
  failed=1
fi
if ! grep -q '^--- PASS: TestBrowserChatAndSearch' "$log"; then
  echo "run_tests: *** the headless-Chromium end-to-end check did NOT pass (see above) ***"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
