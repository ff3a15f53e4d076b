#!/usr/bin/env bash
# bench/run.sh -- the benchmark driver (make bench / bench-smoke / bench-callgrind).
#
#   bench/run.sh [--build-dir DIR] [--python PY] [--rounds N] [--no-callgrind] [--md FILE]
#   bench/run.sh --smoke            each client, tiny counts; ends `N passed, M failed`
#   bench/run.sh --callgrind-only   just the callgrind instruction counts
#
# Starts one reference service (tests/refservice/ai_worker_server.py --port 0,
# ready when it prints LISTENING <port>), runs the clients one after another
# against it -- same counts, each with its warm-up -- in interleaved rounds whose
# client order rotates, then prints the table, the libaiw ratios and the Go
# package's ratios, and writes bench/RESULTS.md. Measurement only: nothing
# here asserts a time.
#
# Clients: libaiw (C), cpp (grpc++ sync), grpcgo (grpc-go), aiwgo (the Go
# package aiworker over libaiw). aiwgo streams with ChatStreamFunc; the same
# binary's `stream-recv` workload (ChatStream + Recv) is run as the extra
# client aiwgo-recv in the stream phase only.
#
# Counts (environment): BENCH_UNARY1_CALLS (3000), BENCH_UNARY1_WARMUP (200),
# BENCH_UNARY16_CALLS (4000), BENCH_UNARY16_WARMUP (20 per thread),
# BENCH_STREAMS (20), BENCH_STREAM_WARMUP (2).
set -u -o pipefail
cd "$(dirname "$0")/.."

MODE=full
ROUNDS=3
BD=build/bench
PY=/usr/bin/python3
CALLGRIND=1
MD=bench/RESULTS.md
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --callgrind-only) MODE=callgrind ;;
    --build-dir) BD=$2; shift ;;
    --python) PY=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --no-callgrind) CALLGRIND=0 ;;
    --md) MD=$2; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "run.sh: --rounds wants a positive number" >&2; exit 2 ;; esac

CLIENTS=(libaiw cpp grpcgo aiwgo)
declare -A BIN=([libaiw]=$BD/bench_aiw [cpp]=$BD/bench_cpp [grpcgo]=$BD/bench_grpcgo [aiwgo]=$BD/bench_aiwgo
  [aiwgo-recv]=$BD/bench_aiwgo)
# the workload argument a client's binary takes for the stream workload
declare -A STREAM_ARG=([aiwgo-recv]=stream-recv)
# the stream phase also runs these (after the client they follow)
declare -A STREAM_EXTRA=([aiwgo]=aiwgo-recv)
RUN=$BD/run-$MODE
rm -rf "$RUN" && mkdir -p "$RUN"
RESULTS=$RUN/results.txt
: > "$RESULTS"

# ---- the server -------------------------------------------------------------
SRV_PID=
stop_server() {
  if [ -n "$SRV_PID" ]; then
    kill -TERM "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
  fi
  exec 3<&- 2>/dev/null
}
trap stop_server EXIT
trap 'exit 130' INT TERM

start_server() {
  mkfifo "$RUN/server.fifo"
  "$PY" tests/refservice/ai_worker_server.py --port 0 > "$RUN/server.fifo" 2> "$RUN/server.err" &
  SRV_PID=$!
  exec 3< "$RUN/server.fifo"
  local word port
  if ! read -r -t 60 -u 3 word port || [ "$word" != LISTENING ]; then
    echo "run.sh: the reference service did not start (see $RUN/server.err):" >&2
    cat "$RUN/server.err" >&2
    exit 1
  fi
  TARGET=127.0.0.1:$port
}

TCK=$(getconf CLK_TCK)
srv_ticks() { # utime+stime of the server process, in clock ticks
  local stat
  stat=$(cat "/proc/$SRV_PID/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  set -- $stat
  echo $(( ${12} + ${13} ))
}

# run_one CLIENT WORKLOAD CONC CALLS WARMUP ROUND -> appends to $RESULTS; 0 on success
run_one() {
  local c=$1 w=$2 conc=$3 calls=$4 warm=$5 rnd=$6
  local bin=${BIN[$c]} arg=$w t0 t1 out rc line srv_calls
  if [ ! -x "$bin" ]; then
    echo "  $c: $bin is missing (make bench-build)"
    return 1
  fi
  [ "$w" = stream ] && arg=${STREAM_ARG[$c]:-stream}
  t0=$(srv_ticks)
  out=$(timeout 300 "$bin" "$TARGET" "$arg" "$conc" "$calls" "$warm" 2>>"$RUN/clients.err")
  rc=$?
  t1=$(srv_ticks)
  line=$(grep '^RESULT ' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    echo "  $c $w conc=$conc: FAILED (exit $rc) $(grep -v '^RESULT ' <<<"$out" | head -3)"
    return 1
  fi
  if [ "$w" = stream ]; then srv_calls=$((calls + warm)); else srv_calls=$((calls + warm * conc)); fi
  line="$line round=$rnd srv_cpu_s=$(awk -v t=$((t1 - t0)) -v h="$TCK" 'BEGIN{printf "%.2f", t/h}') srv_calls=$srv_calls"
  echo "$line" >> "$RESULTS"
  awk -v c="$c" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    cpu = v["cpu_user_s"] + v["cpu_sys_s"]
    if (v["chunks"] > 0) printf "  %-10s %6s conc=%-2s %8.2f us CPU/chunk  p50 %9.1f us/stream\n", c, v["workload"], v["conc"], cpu / v["chunks"] * 1e6, v["p50_us"]
    else printf "  %-10s %6s conc=%-2s %8.1f us CPU/call   p50 %9.1f us  p99 %9.1f us\n", c, v["workload"], v["conc"], cpu / v["calls"] * 1e6, v["p50_us"], v["p99_us"] }' <<<"$line"
  return 0
}

# ---- callgrind -----------------------------------------------------------------
# For each C/C++ client: the same workload with two counts under callgrind;
# the difference divided by the difference in calls is the steady per-call cost
# (start-up, connection and dynamic linking cancel out).
run_callgrind() {
  local out=$1 cg=$RUN/callgrind
  mkdir -p "$cg"
  if ! command -v valgrind >/dev/null; then
    echo "valgrind not installed: no instruction counts." > "$out"
    return 1
  fi
  : > "$out"
  local status=0 c spec w conc n1 n2 warm what unit n
  for c in libaiw cpp; do
    for spec in "unary 1 100 400 5 GetEmbedding call" "stream 1 1 3 1 ChatStream_!many:1000 message"; do
      set -- $spec
      w=$1 conc=$2 n1=$3 n2=$4 warm=$5 what=${6//_/ } unit=$7
      for n in "$n1" "$n2"; do
        if ! timeout 300 valgrind --tool=callgrind --callgrind-out-file="$cg/$c.$w.$n.out" \
            "${BIN[$c]}" "$TARGET" "$w" "$conc" "$n" "$warm" > "$cg/$c.$w.$n.log" 2>&1 \
            || ! grep -q '^RESULT ' "$cg/$c.$w.$n.log"; then
          echo "  callgrind $c $w $n: FAILED (see $cg/$c.$w.$n.log)"
          status=1
          continue 3
        fi
      done
      if [ "$w" = stream ]; then
        # per message: each stream is 1001 messages
        "$PY" bench/report.py callgrind --client "$c" --what "$what" --unit "$unit" \
          --n1 $((n1 * 1001)) --n2 $((n2 * 1001)) "$cg/$c.$w.$n1.out" "$cg/$c.$w.$n2.out" >> "$out"
      else
        "$PY" bench/report.py callgrind --client "$c" --what "$what" --unit "$unit" \
          --n1 "$n1" --n2 "$n2" "$cg/$c.$w.$n1.out" "$cg/$c.$w.$n2.out" >> "$out"
      fi
    done
  done
  return $status
}

# ---- modes -----------------------------------------------------------------------
start_server

if [ "$MODE" = smoke ]; then
  pass=0 fail=0
  for c in "${CLIENTS[@]}"; do
    ok=1
    run_one "$c" unary 1 20 2 1 || ok=0
    run_one "$c" unary 16 32 1 1 || ok=0
    run_one "$c" stream 1 2 1 1 || ok=0
    if [ -n "${STREAM_EXTRA[$c]:-}" ]; then run_one "${STREAM_EXTRA[$c]}" stream 1 2 1 1 || ok=0; fi
    if [ $ok = 1 ]; then echo "PASS $c"; pass=$((pass + 1)); else echo "FAIL $c"; fail=$((fail + 1)); fi
  done
  echo "$pass passed, $fail failed"
  [ $fail -eq 0 ]
  exit
fi

if [ "$MODE" = callgrind ]; then
  run_callgrind "$RUN/callgrind.md"
  rc=$?
  cat "$RUN/callgrind.md"
  exit $rc
fi

U1=${BENCH_UNARY1_CALLS:-3000} U1W=${BENCH_UNARY1_WARMUP:-200}
U16=${BENCH_UNARY16_CALLS:-4000} U16W=${BENCH_UNARY16_WARMUP:-20}
ST=${BENCH_STREAMS:-20} STW=${BENCH_STREAM_WARMUP:-2}
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "server: $TARGET (pid $SRV_PID); $ROUNDS round(s); results in $RESULTS"
failures=0
for ((r = 0; r < ROUNDS; r++)); do
  nc=${#CLIENTS[@]}
  order=("${CLIENTS[@]:r%nc}" "${CLIENTS[@]:0:r%nc}")
  echo "round $((r + 1))/$ROUNDS (order: ${order[*]})"
  for c in "${order[@]}"; do run_one "$c" unary 1 "$U1" "$U1W" $((r + 1)) || failures=$((failures + 1)); done
  for c in "${order[@]}"; do run_one "$c" unary 16 "$U16" "$U16W" $((r + 1)) || failures=$((failures + 1)); done
  for c in "${order[@]}"; do
    for sc in "$c" ${STREAM_EXTRA[$c]:-}; do
      run_one "$sc" stream 1 "$ST" "$STW" $((r + 1)) || failures=$((failures + 1))
    done
  done
done

CG_MD=
if [ $CALLGRIND = 1 ]; then
  echo "callgrind (libaiw and C++ under valgrind, small counts)..."
  run_callgrind "$RUN/callgrind.md" || failures=$((failures + 1))
  CG_MD=$RUN/callgrind.md
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)

go_grpc=$(sed -n 's/^const Version = "\(.*\)"/\1/p' /usr/share/gocode/src/google.golang.org/grpc/version.go 2>/dev/null)
{
  echo "- Date: $started; host \`$(uname -srm)\`, $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "- Load average before / after: $load0 / $load1 (the machine is shared)"
  echo "- gRPC C core / grpc++ $(pkg-config --modversion grpc++ 2>/dev/null) (Debian), libprotobuf $(pkg-config --modversion protobuf 2>/dev/null), protobuf-c $(pkg-config --modversion libprotobuf-c 2>/dev/null), libaiw $(sed -n 's/^Version: //p' "$(dirname "$BD")/lib/pkgconfig/aiw.pc" 2>/dev/null)"
  echo "- grpc-go ${go_grpc:-?} (Debian, GOPATH mode), $(go version 2>/dev/null | cut -d' ' -f3-4), GOMAXPROCS default"
  echo "- Go package aiworker (cgo/, module github.com/thinkbank/libaiw/cgo) over the same libaiw, built in module mode through build/lib's aiw.pc; streams via ChatStreamFunc (aiwgo) and via ChatStream + Recv (aiwgo-recv, an extra stream row)"
  echo "- Server: tests/refservice/ai_worker_server.py (Python $("$PY" -c 'import sys,grpc;print("%d.%d" % sys.version_info[:2], "grpcio", grpc.__version__)' 2>/dev/null)), one instance for all clients, 127.0.0.1"
  echo "- Compilers: gcc / g++ $(gcc -dumpfullversion), -O2 -g; clients: build/bench/bench_{aiw,cpp,grpcgo,aiwgo}"
  echo "- Counts per client per round: GetEmbedding 1 in flight: $U1 calls after $U1W warm-up; 16 in flight: $U16 calls after $U16W warm-up per thread; ChatStream: $ST streams after $STW warm-up. $ROUNDS interleaved rounds, client order rotating; medians reported."
  [ $failures -gt 0 ] && echo "- **$failures client run(s) failed** in this run (see the logs under $RUN)."
} > "$RUN/meta.md"

echo
if [ -s "$RESULTS" ]; then
  "$PY" bench/report.py table "$RESULTS" --meta "$RUN/meta.md" ${CG_MD:+--callgrind "$CG_MD"} --md "$MD" || failures=$((failures + 1))
  [ -n "$CG_MD" ] && cat "$CG_MD"
  echo "wrote $MD"
fi
[ $failures -eq 0 ]
