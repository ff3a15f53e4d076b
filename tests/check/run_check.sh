#!/bin/bash
# run_check.sh LABEL TIMEOUT_S -- COMMAND...
# Runs a Check binary (possibly under valgrind or with sanitizers), shows its
# output, and makes the last line `N passed, M failed`, counting a non-zero
# exit without a failed test (sanitizer/leak/valgrind error, crash, timeout)
# as one more failure. Exits non-zero on any failure.
set -u
label=$1; limit=$2; shift 2
[ "${1:-}" = "--" ] && shift
out=$(mktemp "${TMPDIR:-/tmp}/aiw-check.XXXXXX")
trap 'rm -f "$out"' EXIT
timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
if [ -z "$line" ]; then
  passed=0; failed=0
  echo "$label: no test summary (the test binary died early), exit status $rc"
else
  passed=${line%% passed*}; failed=${line#*, }; failed=${failed%% failed}
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "$label: timed out after ${limit}s: counted as a failure"
  else
    echo "$label: exit status $rc (sanitizer, leak or valgrind error above): counted as a failure"
  fi
  failed=1
fi
# The binary's own summary is already the last line unless something changed.
if [ "$(tail -n 1 "$out")" != "$passed passed, $failed failed" ]; then
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
