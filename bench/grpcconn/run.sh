#!/usr/bin/env bash
# bench/grpcconn/run.sh -- the grpcconn benchmark (make bench-grpcconn) and
# its smoke run (make bench-grpcconn-smoke, part of make test-grpcconn).
#
#   bench/grpcconn/run.sh [--build-dir DIR] [--bin BIN] [--python PY] [--rounds N] [--md FILE]
#   bench/grpcconn/run.sh --smoke [...]    tiny counts, every client; ends `N passed, M failed`
#
# Starts the benchmark server (DIR/bench_server --port 0, bench/bench_server.cc,
# grpc++ async; ready when it prints LISTENING <port>) and runs BIN
# (DIR/bench_grpcconn) for each client -- grpcconn (the generated client over
# grpcconn.Conn), grpcgo (the same generated client over grpc-go's
# ClientConn), aiwgo (the Go package aiworker directly) -- each run in its
# own process, in interleaved rounds whose client order rotates. Then
# bench/grpcconn/report.py prints the table and writes FILE (default
# bench/grpcconn/RESULTS.md). Measurement only: nothing asserts a time.
#
# Counts (environment): GC_UNARY1_CALLS (6000), GC_UNARY1_WARMUP (200),
# GC_UNARY16_CALLS (30000), GC_UNARY16_WARMUP (10 per goroutine),
# GC_STREAM1_STREAMS (100), GC_STREAM8_STREAMS (320), GC_STREAM_WARMUP (1 per
# goroutine); streams are ChatStream "!many:1000" (1001 messages).
set -u -o pipefail
cd "$(dirname "$0")/../.."

MODE=full
ROUNDS=7
BD=build/bench
BIN=
PY=/usr/bin/python3
MD=bench/grpcconn/RESULTS.md
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --build-dir) BD=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --python) PY=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --md) MD=$2; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "run.sh: --rounds wants a positive number" >&2; exit 2 ;; esac
BIN=${BIN:-$BD/bench_grpcconn}
SERVER=$BD/bench_server
CLIENTS=(grpcconn grpcgo aiwgo)
RUN=$BD/run-grpcconn-$MODE
rm -rf "$RUN" && mkdir -p "$RUN"
RESULTS=$RUN/results.txt
: > "$RESULTS"

if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN is missing (make bench-grpcconn-build)" >&2
  [ "$MODE" = smoke ] && echo "0 passed, 1 failed"
  exit 1
fi

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

# start_server NAME CMD... : sets SRV_PID and TARGET
start_server() {
  local name=$1 word port
  shift
  rm -f "$RUN/$name.fifo"
  mkfifo "$RUN/$name.fifo"
  "$@" > "$RUN/$name.fifo" 2> "$RUN/$name.err" &
  SRV_PID=$!
  exec 3< "$RUN/$name.fifo"
  if ! read -r -t 60 -u 3 word port || [ "$word" != LISTENING ]; then
    echo "run.sh: the $name server did not start (see $RUN/$name.err):" >&2
    cat "$RUN/$name.err" >&2
    return 1
  fi
  TARGET=127.0.0.1:$port
}

# run_one CLIENT WORKLOAD CONC N WARMUP ROUND -> a RESULT line in $RESULTS; 0 on success
run_one() {
  local c=$1 w=$2 conc=$3 n=$4 warm=$5 rnd=$6 out rc line
  out=$(timeout 300 "$BIN" "$TARGET" "$c" "$w" "$conc" "$n" "$warm" 2>>"$RUN/clients.err")
  rc=$?
  line=$(grep '^RESULT ' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    echo "  $c $w conc=$conc: FAILED (exit $rc) $(grep '^ERROR ' <<<"$out" | head -1 | cut -c1-200)"
    echo "FAILED client=$c workload=$w conc=$conc round=$rnd exit=$rc" >> "$RESULTS"
    return 1
  fi
  echo "$line round=$rnd" >> "$RESULTS"
  awk -v c="$c" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    cpu = v["cpu_user_s"] + v["cpu_sys_s"]
    if (v["chunks"] > 0) printf "  %-9s stream conc=%-2s %7.3f us CPU/chunk  p50 %7.2f ms/stream\n", c, v["conc"], cpu / v["chunks"] * 1e6, v["p50_us"] / 1000
    else printf "  %-9s  unary conc=%-2s %7.2f us CPU/call   p50 %7.1f us  %6.0f calls/s\n", c, v["conc"], cpu / v["calls"] * 1e6, v["p50_us"], v["calls"] / v["wall_s"] }' <<<"$line"
  return 0
}

if [ "$MODE" = smoke ]; then
  pass=0 fail=0
  tally() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; }
  echo "against the reference service (tests/refservice/ai_worker_server.py):"
  if start_server refservice "$PY" tests/refservice/ai_worker_server.py --port 0; then
    for c in "${CLIENTS[@]}"; do
      tally run_one "$c" unary 1 10 1 0
      tally run_one "$c" stream 1 2 0 0
    done
    stop_server
  else
    fail=$((fail + 1))
  fi
  if [ -x "$SERVER" ]; then
    echo "against the benchmark server ($SERVER):"
    if start_server bench-server "$SERVER" --port 0; then
      for c in "${CLIENTS[@]}"; do
        tally run_one "$c" unary 1 20 2 1
        tally run_one "$c" unary 16 64 1 1
        tally run_one "$c" stream 1 2 1 1
        tally run_one "$c" stream 8 8 0 1
      done
      stop_server
    else
      fail=$((fail + 1))
    fi
  else
    echo "run.sh: $SERVER is missing (make bench-build): the benchmark-server runs are skipped"
  fi
  echo "$pass passed, $fail failed"
  [ $fail -eq 0 ]
  exit
fi

if [ ! -x "$SERVER" ]; then
  echo "run.sh: $SERVER is missing (make bench-build)" >&2
  exit 1
fi
start_server bench-server "$SERVER" --port 0 || exit 1

U1=${GC_UNARY1_CALLS:-6000} U1W=${GC_UNARY1_WARMUP:-200}
U16=${GC_UNARY16_CALLS:-30000} U16W=${GC_UNARY16_WARMUP:-10}
S1=${GC_STREAM1_STREAMS:-100} S8=${GC_STREAM8_STREAMS:-320} SW=${GC_STREAM_WARMUP:-1}
PHASES=("unary 1 $U1 $U1W" "unary 16 $U16 $U16W" "stream 1 $S1 $SW" "stream 8 $S8 $SW")
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "server: $SERVER on $TARGET; $ROUNDS round(s); results in $RESULTS"
failures=0
for ((r = 0; r < ROUNDS; r++)); do
  nc=${#CLIENTS[@]}
  order=("${CLIENTS[@]:r%nc}" "${CLIENTS[@]:0:r%nc}")
  echo "round $((r + 1))/$ROUNDS (order: ${order[*]})"
  for ph in "${PHASES[@]}"; do
    set -- $ph
    for c in "${order[@]}"; do
      run_one "$c" "$1" "$2" "$3" "$4" $((r + 1)) || failures=$((failures + 1))
    done
  done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - t_start ))
go_grpc=$(sed -n 's/^const Version = "\(.*\)"/\1/p' /usr/share/gocode/src/google.golang.org/grpc/version.go 2>/dev/null)
{
  echo "- Date: $started; host \`$(uname -srm)\`, $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); the run took $((elapsed / 60)) min $((elapsed % 60)) s"
  echo "- Load average before / after: $load0 / $load1 (the machine is shared)"
  echo "- gRPC C core $(pkg-config --modversion grpc 2>/dev/null) (Debian's grpc $(pkg-config --modversion grpc++ 2>/dev/null)) under libaiw $(sed -n 's/^Version: //p' "$(dirname "$BD")/lib/pkgconfig/aiw.pc" 2>/dev/null); grpc-go ${go_grpc:-?} (Debian, module mode), $(go version 2>/dev/null | cut -d' ' -f3-4), GOMAXPROCS default"
  echo "- Server: $SERVER (bench/bench_server.cc, grpc++ async, one polling thread), one instance for every run, 127.0.0.1"
  echo "- Client program: bench/grpcconn/bench_grpcconn.go, one process per run; the generated client (protoc-gen-go-grpc 1.33 from idl/ai_service.proto) over grpcconn.Conn and over grpc-go's ClientConn; aiworker.Client directly (GetEmbedding; ChatStream + Recv)"
  echo "- Counts per client per round: GetEmbedding 1 in flight: $U1 calls after $U1W warm-up; 16 in flight: $U16 calls after $U16W warm-up per goroutine; ChatStream \`!many:1000\` (1001 messages) 1 in flight: $S1 streams, 8 in flight: $S8 streams, after $SW warm-up per goroutine. $ROUNDS interleaved rounds, client order rotating; medians with the per-round min..max."
  [ $failures -gt 0 ] && echo "- **$failures run(s) failed** (logs under $RUN)."
} > "$RUN/meta.md"
echo
"$PY" bench/grpcconn/report.py "$RESULTS" --meta "$RUN/meta.md" --md "$MD" || failures=$((failures + 1))
echo "wrote $MD"
[ $failures -eq 0 ]
