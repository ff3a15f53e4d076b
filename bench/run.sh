#!/usr/bin/env bash
# bench/run.sh -- the benchmark driver (make bench / bench-smoke / bench-callgrind).
#
#   bench/run.sh [--build-dir DIR] [--python PY] [--rounds N] [--no-callgrind] [--md FILE]
#   bench/run.sh --smoke            every client, every workload, tiny counts; ends `N passed, M failed`
#   bench/run.sh --callgrind-only   just the callgrind instruction counts
#
# Starts the benchmark server (build/bench/bench_server --port 0, grpc++
# async, ready when it prints LISTENING <port>), runs the clients one after
# another against it -- same counts, each with its warm-up, each in its own
# process -- in interleaved rounds whose client order rotates, then prints
# the tables and ratios and writes bench/RESULTS.md. The smoke run also runs
# each client against the Python reference service
# (tests/refservice/ai_worker_server.py), which stays the authority on what
# a correct answer is. Measurement only: nothing here asserts a time.
#
# Clients: rawc (raw gRPC C core + protobuf-c, one completion queue on one
# thread: the floor), libaiw-q (libaiw's aiw_queue, one thread), libaiw
# (libaiw's blocking calls, a thread per call in flight), cpp (grpc++ sync,
# a thread per call in flight), grpcgo (grpc-go), aiwgo (the Go package
# aiworker over libaiw). aiwgo streams with ChatStreamFunc; the same
# binary's `stream-recv` workload (ChatStream + Recv) runs as the extra
# client aiwgo-recv in the stream phases. The open-streams workload runs for
# grpcgo and aiwgo only.
#
# Counts (environment): BENCH_UNARY1_CALLS (6000), BENCH_UNARY1_WARMUP (200),
# BENCH_UNARY16_CALLS (30000), BENCH_UNARY64_CALLS (40000),
# BENCH_UNARYN_WARMUP (10 per call in flight), BENCH_STREAM1_STREAMS (100),
# BENCH_STREAM8_STREAMS (320), BENCH_STREAM_WARMUP (1 per stream in flight),
# BENCH_OPEN_SIZES ("100 1000 10000"), BENCH_OPEN_CHUNKS (10);
# a held stream waits 1000 + N/5 ms after its first message.
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

CLIENTS=(rawc libaiw-q libaiw cpp grpcgo aiwgo)
OPEN_CLIENTS=(grpcgo aiwgo)
declare -A BIN=([rawc]=$BD/bench_rawc [libaiw-q]=$BD/bench_aiw [libaiw]=$BD/bench_aiw [cpp]=$BD/bench_cpp
  [grpcgo]=$BD/bench_grpcgo [aiwgo]=$BD/bench_aiwgo [aiwgo-recv]=$BD/bench_aiwgo)
# the workload argument a client's binary takes, when not the workload's name
declare -A ARG=([libaiw-q:unary]=qunary [libaiw-q:stream]=qstream [aiwgo-recv:stream]=stream-recv)
# the stream phases also run these (after the client they follow)
declare -A STREAM_EXTRA=([aiwgo]=aiwgo-recv)
SERVER=$BD/bench_server
RUN=$BD/run-$MODE
rm -rf "$RUN" && mkdir -p "$RUN"
RESULTS=$RUN/results.txt
: > "$RESULTS"

# ---- servers ------------------------------------------------------------------
# start_server NAME CMD... : sets SRV_PID and TARGET; stop_server stops it.
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
    exit 1
  fi
  TARGET=127.0.0.1:$port
}

start_bench_server() {
  if [ ! -x "$SERVER" ]; then
    echo "run.sh: $SERVER is missing (make bench-build)" >&2
    exit 1
  fi
  start_server bench-server "$SERVER" --port 0
}

TCK=$(getconf CLK_TCK)
srv_ticks() { # utime+stime of the server process, in clock ticks
  local stat
  stat=$(cat "/proc/$SRV_PID/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  set -- $stat
  echo $(( ${12} + ${13} ))
}

# run_one CLIENT WORKLOAD A B C ROUND -> appends a RESULT (or FAILED / MISSING)
# line to $RESULTS; 0 on success. unary|stream: A=in flight B=calls C=warm-up
# per call in flight; open: A=N B=chunks C=hold ms.
run_one() {
  local c=$1 w=$2 a=$3 b=$4 cc=$5 rnd=$6
  local bin=${BIN[$c]} arg=${ARG[$1:$2]:-$2} t0 t1 out rc line srv_calls why to=300
  if [ ! -x "$bin" ]; then
    echo "  $c: $bin is missing (it did not build)"
    echo "MISSING client=$c workload=$w conc=$a round=$rnd" >> "$RESULTS"
    return 1
  fi
  [ "$w" = open ] && to=180
  t0=$(srv_ticks)
  out=$(timeout $to "$bin" "$TARGET" "$arg" "$a" "$b" "$cc" 2>"$RUN/client.err")
  rc=$?
  t1=$(srv_ticks)
  { echo "== $c $w $a $b $cc round $rnd: exit $rc"; tail -5 "$RUN/client.err"; } >> "$RUN/clients.err"
  line=$(grep '^RESULT ' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    why=$( { grep '^ERROR ' <<<"$out"; grep -m1 -E 'fatal|panic|runtime:|Assertion|terminate' "$RUN/client.err"; } | head -1 | tr -s ' \t' '  ' | cut -c1-200)
    [ $rc -eq 124 ] && why="timed out after ${to}s; $why"
    [ -z "$why" ] && why="exit status $rc"
    echo "  $c $w conc=$a: FAILED (exit $rc) $why"
    echo "FAILED client=$c workload=$w conc=$a round=$rnd exit=$rc why=${why// /_}" >> "$RESULTS"
    return 1
  fi
  case $w in
    stream | unary) srv_calls=$((b + cc * a)) ;;
    *) srv_calls=$((a + 1)) ;;
  esac
  line="$line round=$rnd srv_cpu_s=$(awk -v t=$((t1 - t0)) -v h="$TCK" 'BEGIN{printf "%.2f", t/h}') srv_calls=$srv_calls"
  echo "$line" >> "$RESULTS"
  awk -v c="$c" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    cpu = v["cpu_user_s"] + v["cpu_sys_s"]; csw = v["csw_vol"] + v["csw_invol"]
    if (v["workload"] == "open") printf "  %-10s   open N=%-5s %6.2f s wall, %5.2f s CPU, %d threads peak, %6.1f MB RSS, %d open at once, %d completed\n", c, v["conc"], v["wall_s"], cpu, v["threads"], v["rss_kb"] / 1024, v["peak_open"], v["completed"]
    else if (v["chunks"] > 0) printf "  %-10s stream conc=%-2s %7.2f us CPU/chunk %6.3f csw/chunk  p50 %8.1f ms/stream  %2d threads\n", c, v["conc"], cpu / v["chunks"] * 1e6, csw / v["chunks"], v["p50_us"] / 1000, v["threads"]
    else printf "  %-10s  unary conc=%-2s %7.1f us CPU/call  %6.3f csw/call   p50 %8.1f us  p99 %8.1f us  %6.0f calls/s  %2d threads\n", c, v["conc"], cpu / v["calls"] * 1e6, csw / v["calls"], v["p50_us"], v["p99_us"], v["calls"] / v["wall_s"], v["threads"] }' <<<"$line"
  return 0
}

hold_ms() { echo $((1000 + $1 / 5)); }

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
  local status=0 c spec w conc n1 n2 warm what unit n arg
  for c in rawc libaiw-q libaiw cpp; do
    for spec in "unary 1 100 400 5 GetEmbedding,_1_in_flight call" "unary 64 256 1024 2 GetEmbedding,_64_in_flight call" \
        "stream 1 1 3 1 ChatStream_!many:1000,_1_in_flight message" "stream 8 8 24 1 ChatStream_!many:1000,_8_in_flight message"; do
      set -- $spec
      w=$1 conc=$2 n1=$3 n2=$4 warm=$5 what=${6//_/ } unit=$7
      arg=${ARG[$c:$w]:-$w}
      for n in "$n1" "$n2"; do
        if ! timeout 300 valgrind --tool=callgrind --callgrind-out-file="$cg/$c.$w.$n.out" \
            "${BIN[$c]}" "$TARGET" "$arg" "$conc" "$n" "$warm" > "$cg/$c.$w.$n.log" 2>&1 \
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

if [ "$MODE" = smoke ]; then
  declare -A OK
  for c in "${CLIENTS[@]}"; do OK[$c]=1; done
  # 1. against the Python reference service: the clients' checks agree with it
  echo "against the reference service (tests/refservice/ai_worker_server.py):"
  start_server refservice "$PY" tests/refservice/ai_worker_server.py --port 0
  for c in "${CLIENTS[@]}"; do
    run_one "$c" unary 1 10 1 0 || OK[$c]=0
    run_one "$c" stream 1 1 0 0 || OK[$c]=0
  done
  stop_server
  # 2. against the benchmark server: every workload, tiny counts
  echo "against the benchmark server ($SERVER):"
  start_bench_server
  for c in "${CLIENTS[@]}"; do
    for spec in "unary 1 20 2" "unary 16 32 1" "unary 64 128 1" "stream 1 2 1" "stream 8 8 0"; do
      set -- $spec
      run_one "$c" "$1" "$2" "$3" "$4" 1 || OK[$c]=0
      if [ "$1" = stream ] && [ -n "${STREAM_EXTRA[$c]:-}" ]; then
        run_one "${STREAM_EXTRA[$c]}" "$1" "$2" "$3" "$4" 1 || OK[$c]=0
      fi
    done
  done
  for c in "${OPEN_CLIENTS[@]}"; do run_one "$c" open 50 3 200 1 || OK[$c]=0; done
  pass=0 fail=0
  for c in "${CLIENTS[@]}"; do
    if [ "${OK[$c]}" = 1 ]; then echo "PASS $c"; pass=$((pass + 1)); else echo "FAIL $c"; fail=$((fail + 1)); fi
  done
  echo "$pass passed, $fail failed"
  [ $fail -eq 0 ]
  exit
fi

start_bench_server

if [ "$MODE" = callgrind ]; then
  run_callgrind "$RUN/callgrind.md"
  rc=$?
  cat "$RUN/callgrind.md"
  exit $rc
fi

U1=${BENCH_UNARY1_CALLS:-6000} U1W=${BENCH_UNARY1_WARMUP:-200}
U16=${BENCH_UNARY16_CALLS:-30000} U64=${BENCH_UNARY64_CALLS:-40000} UNW=${BENCH_UNARYN_WARMUP:-10}
S1=${BENCH_STREAM1_STREAMS:-100} S8=${BENCH_STREAM8_STREAMS:-320} SW=${BENCH_STREAM_WARMUP:-1}
OPEN_SIZES=${BENCH_OPEN_SIZES:-100 1000 10000} OPEN_CHUNKS=${BENCH_OPEN_CHUNKS:-10}
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "server: $SERVER on $TARGET (pid $SRV_PID); $ROUNDS round(s); results in $RESULTS"
failures=0
PHASES=("unary 1 $U1 $U1W" "unary 16 $U16 $UNW" "unary 64 $U64 $UNW" "stream 1 $S1 $SW" "stream 8 $S8 $SW")
for ((r = 0; r < ROUNDS; r++)); do
  nc=${#CLIENTS[@]}
  order=("${CLIENTS[@]:r%nc}" "${CLIENTS[@]:0:r%nc}")
  echo "round $((r + 1))/$ROUNDS (order: ${order[*]})"
  for ph in "${PHASES[@]}"; do
    set -- $ph
    for c in "${order[@]}"; do
      for sc in "$c" $([ "$1" = stream ] && echo "${STREAM_EXTRA[$c]:-}"); do
        run_one "$sc" "$1" "$2" "$3" "$4" $((r + 1)) || failures=$((failures + 1))
      done
    done
  done
  no=${#OPEN_CLIENTS[@]}
  oorder=("${OPEN_CLIENTS[@]:r%no}" "${OPEN_CLIENTS[@]:0:r%no}")
  for n in $OPEN_SIZES; do
    for c in "${oorder[@]}"; do
      run_one "$c" open "$n" "$OPEN_CHUNKS" "$(hold_ms "$n")" $((r + 1)) || failures=$((failures + 1))
    done
  done
done

CG_MD=
if [ $CALLGRIND = 1 ]; then
  echo "callgrind (C and C++ clients under valgrind, small counts)..."
  run_callgrind "$RUN/callgrind.md" || failures=$((failures + 1))
  CG_MD=$RUN/callgrind.md
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - t_start ))

go_grpc=$(sed -n 's/^const Version = "\(.*\)"/\1/p' /usr/share/gocode/src/google.golang.org/grpc/version.go 2>/dev/null)
{
  echo "- Date: $started; host \`$(uname -srm)\`, $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); the run took $((elapsed / 60)) min $((elapsed % 60)) s"
  echo "- Load average before / after: $load0 / $load1 (the machine is shared)"
  echo "- gRPC C core / grpc++ $(pkg-config --modversion grpc++ 2>/dev/null) (Debian), libprotobuf $(pkg-config --modversion protobuf 2>/dev/null), protobuf-c $(pkg-config --modversion libprotobuf-c 2>/dev/null), libaiw $(sed -n 's/^Version: //p' "$(dirname "$BD")/lib/pkgconfig/aiw.pc" 2>/dev/null)"
  echo "- grpc-go ${go_grpc:-?} (Debian, GOPATH mode), $(go version 2>/dev/null | cut -d' ' -f3-4), GOMAXPROCS default"
  echo "- Go package aiworker (cgo/, module github.com/thinkbank/libaiw/cgo) over the same libaiw, built in module mode through build/lib's aiw.pc; streams via ChatStreamFunc (aiwgo) and via ChatStream + Recv (aiwgo-recv, an extra stream row)"
  echo "- Server: build/bench/bench_server (bench/bench_server.cc, grpc++ $(pkg-config --modversion grpc++ 2>/dev/null) async, one completion queue, one polling thread), one instance for all clients, 127.0.0.1"
  echo "- Compilers: gcc / g++ $(gcc -dumpfullversion), -O2 -g"
  echo "- Counts per client per round: GetEmbedding 1 in flight: $U1 calls after $U1W warm-up; 16 in flight: $U16 calls, 64 in flight: $U64 calls, after $UNW warm-up calls per call in flight; ChatStream \`!many:1000\` 1 in flight: $S1 streams, 8 in flight: $S8 streams, after $SW warm-up per stream in flight; open streams: N = $OPEN_SIZES streams \`!hold:MS:$OPEN_CHUNKS\` (MS = 1000 + N/5) at once. $ROUNDS interleaved rounds, client order rotating; medians reported with the per-round min..max."
  [ $failures -gt 0 ] && echo "- **$failures client run(s) failed or were missing** in this run (listed in the tables; logs under $RUN)."
} > "$RUN/meta.md"

echo
if [ -s "$RESULTS" ]; then
  "$PY" bench/report.py table "$RESULTS" --meta "$RUN/meta.md" ${CG_MD:+--callgrind "$CG_MD"} --md "$MD" || failures=$((failures + 1))
  [ -n "$CG_MD" ] && cat "$CG_MD"
  echo "wrote $MD"
fi
[ $failures -eq 0 ]
