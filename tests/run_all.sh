#!/bin/bash
# tests/run_all.sh -- `make test`: runs every suite, in order, as its own make
# invocation, shows its output, and ends with the overall `N passed, M failed`.
# A suite whose make target does not exist, or whose output lacks a summary
# line, counts as a failure. Exit status is non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
SUITES=(check-abi check-generated check-generated-c check-format check-layering test-readme test-c test-c-asan test-c-valgrind test-c-tsan test-torture test-fuzz test-cli test-go test-grpcconn test-schema test-backend test-static bench-smoke)

total_pass=0; total_fail=0; report=()
for suite in "${SUITES[@]}"; do
  echo "==================== make $suite ===================="
  log=$(mktemp "${TMPDIR:-/tmp}/aiw-suite.XXXXXX")
  $MAKE --no-print-directory "$suite" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if grep -q "No rule to make target '$suite'" "$log"; then
    echo "run_all: suite $suite: make target '$suite' does not exist: counted as 1 failure"
    p=0; f=1
  elif [ -z "$line" ]; then
    echo "run_all: suite $suite: no 'N passed, M failed' line (exit status $rc): counted as 1 failure"
    p=0; f=1
  else
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      echo "run_all: suite $suite: exit status $rc but no failed test reported: counted as 1 failure"
      f=1
    fi
  fi
  rm -f "$log"
  report+=("$(printf '%-16s %5d passed, %3d failed' "$suite" "$p" "$f")")
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done
echo "==================== summary ===================="
printf '%s\n' "${report[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
