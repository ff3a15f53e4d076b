#!/bin/bash
# tests/cli/run.sh -- `make test-cli`: the aiw CLI against the reference AI
# service (tests/refservice/ai_worker_server.py).
#
# Every assertion is counted; the last line is `N passed, M failed` and the
# exit status is non-zero when anything failed. JSON output is parsed and
# compared field by field by tests/cli/expect.py, which computes the
# documented answers itself (search corpus, chat text; the embedding vectors
# from the service's own formula, tests/refservice/embedding.py).
#
# Environment: AIW (the binary, default build/bin/aiw), PYTHON (the Python
# that has grpc, default /usr/bin/python3). Synchronisation is on ready
# signals only: the service's LISTENING line, the first streamed chunk, the
# service's --events log; no sleep decides an outcome.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
AIW=${AIW:-$ROOT/build/bin/aiw}
PY=${PYTHON:-/usr/bin/python3}
EXPECT="$PY $ROOT/tests/cli/expect.py"
SERVER=$ROOT/tests/refservice/ai_worker_server.py

PASS=0
FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/aiw-cli-test.XXXXXX")
SERVER_PID=
SERVER2_PID=
SERVER3_PID=

cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$SERVER2_PID" ] && kill "$SERVER2_PID" 2>/dev/null && wait "$SERVER2_PID" 2>/dev/null
  [ -n "$SERVER3_PID" ] && kill "$SERVER3_PID" 2>/dev/null && wait "$SERVER3_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
not_ok() {
  FAIL=$((FAIL + 1))
  echo "FAIL $1"
  shift
  for line in "$@"; do echo "     $line"; done
}

# run ARGS...: runs aiw; sets RC, OUT (stdout file), ERR (stderr file).
N=0
run() {
  N=$((N + 1))
  OUT=$TMP/out.$N
  ERR=$TMP/err.$N
  "$AIW" "$@" >"$OUT" 2>"$ERR" </dev/null
  RC=$?
}
# run_in FILE ARGS...: same with stdin from FILE.
run_in() {
  local input=$1
  shift
  N=$((N + 1))
  OUT=$TMP/out.$N
  ERR=$TMP/err.$N
  "$AIW" "$@" >"$OUT" 2>"$ERR" <"$input"
  RC=$?
}

context() { echo "rc=$RC" "stdout: $(head -c 400 "$OUT")" "stderr: $(head -c 400 "$ERR")"; }

expect_rc() { # NAME WANT
  if [ "$RC" -eq "$2" ]; then ok "$1 (exit $2)"; else not_ok "$1: exit $RC, want $2" "$(context)"; fi
}
expect_out_eq() { # NAME TEXT  (stdout exactly TEXT, printf %s)
  if [ "$(cat "$OUT"; echo x)" = "$2"x ]; then ok "$1"; else
    not_ok "$1: stdout differs" "want: $(printf %q "$2")" "got:  $(printf %q "$(cat "$OUT")")"; fi
}
expect_err_eq() { # NAME LINE  (stderr exactly LINE + newline)
  if [ "$(cat "$ERR"; echo x)" = "$2"$'\n'x ]; then ok "$1"; else
    not_ok "$1: stderr differs" "want: $(printf %q "$2")" "got:  $(printf %q "$(cat "$ERR")")"; fi
}
expect_out_has() { # NAME FIXED-STRING
  if grep -qF -- "$2" "$OUT"; then ok "$1"; else not_ok "$1: stdout lacks '$2'" "$(context)"; fi
}
expect_out_lacks() {
  if ! grep -qF -- "$2" "$OUT"; then ok "$1"; else not_ok "$1: stdout has '$2'" "$(context)"; fi
}
expect_err_has() {
  if grep -qF -- "$2" "$ERR"; then ok "$1"; else not_ok "$1: stderr lacks '$2'" "$(context)"; fi
}
expect_err_empty() {
  if [ ! -s "$ERR" ]; then ok "$1"; else not_ok "$1: stderr not empty" "$(context)"; fi
}
expect_out_bytes() { # NAME PRINTF-FORMAT  (stdout exactly these bytes: NULs allowed)
  printf "$2" >"$TMP/want"
  if cmp -s "$TMP/want" "$OUT"; then ok "$1"; else
    not_ok "$1: stdout differs" "want: $(od -c "$TMP/want" | head -n 6)" "got:  $(od -c "$OUT" | head -n 6)"; fi
}
expect_err_bytes() { # NAME PRINTF-FORMAT
  printf "$2" >"$TMP/want"
  if cmp -s "$TMP/want" "$ERR"; then ok "$1"; else
    not_ok "$1: stderr differs" "want: $(od -c "$TMP/want" | head -n 6)" "got:  $(od -c "$ERR" | head -n 6)"; fi
}
expect_out_empty() {
  if [ ! -s "$OUT" ]; then ok "$1"; else not_ok "$1: stdout not empty" "$(context)"; fi
}
expect_json() { # NAME expect.py-ARGS...
  local name=$1
  shift
  local msg
  if msg=$($EXPECT "$@" <"$OUT" 2>&1); then ok "$name"; else not_ok "$name" "$msg" "stderr: $(head -c 300 "$ERR")"; fi
}
# A usage error: exit 64, `aiw: USAGE: ...` on stderr, nothing on stdout.
expect_usage() { # NAME
  expect_rc "$1" 64
  if head -n 1 "$ERR" | grep -q '^aiw: [A-Z_]*: ' && [ ! -s "$OUT" ]; then ok "$1: message on stderr only"; else
    not_ok "$1: want 'aiw: CODE: message' on stderr and empty stdout" "$(context)"; fi
}

# wait_for FILE PATTERN SECONDS: polls until FILE has a line matching PATTERN.
wait_for() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_server OUTFILE ARGS...: starts the reference service; sets STARTED_PID, STARTED_PORT.
start_server() {
  local outfile=$1
  shift
  "$PY" "$SERVER" --port 0 "$@" >"$outfile" 2>"$outfile.err" &
  STARTED_PID=$!
  if ! wait_for "$outfile" '^LISTENING [0-9]+$' 60; then
    echo "cannot start the reference service:"
    cat "$outfile.err"
    return 1
  fi
  STARTED_PORT=$(awk '/^LISTENING/ {print $2; exit}' "$outfile")
}

if [ ! -x "$AIW" ]; then
  echo "no aiw binary at $AIW (make build/bin/aiw)"
  echo "0 passed, 1 failed"
  exit 1
fi
EVENTS=$TMP/events.jsonl
if ! start_server "$TMP/server.out" --events "$EVENTS"; then
  echo "0 passed, 1 failed"
  exit 1
fi
SERVER_PID=$STARTED_PID
export AIW_TARGET=127.0.0.1:$STARTED_PORT
echo "# reference service on $AIW_TARGET (pid $SERVER_PID)"

# ===================================================================== basics
LIBAIW_VERSION=$(sed -n 's/^#define AIW_VERSION_STRING "\(.*\)"$/\1/p' include/aiw.h)
run --version
expect_rc "--version" 0
expect_out_has "--version names aiw" "aiw 1.0.0"
expect_out_has "--version names libaiw" "libaiw $LIBAIW_VERSION (built against $LIBAIW_VERSION)"
run --help
expect_rc "--help" 0
expect_out_has "--help lists commands" "chat    [--history ROLE:CONTENT[@UNIX_TS]]..."
expect_out_has "--help lists global options" "-H, --header K=V"
for opt in "--service-config FILE" "--keepalive SECONDS" "--compress ALG" "--token TOKEN" "--insecure-token" \
  "-v, --verbose" "health  [SERVICE]" "69 health:"; do
  expect_out_has "--help lists $opt" "$opt"
done
run -h
expect_rc "-h" 0
for cmd in embed search process chat health; do
  run "$cmd" --help
  expect_rc "$cmd --help" 0
  expect_out_has "$cmd --help is the command's" "usage: aiw [global options] $cmd"
  run "$cmd" -h
  expect_rc "$cmd -h" 0
done
run --json search --version
expect_rc "--version after the command" 0

# ============================================================== usage errors
run
expect_usage "no command"
run bogus
expect_usage "unknown command"
run --bogus search q
expect_usage "unknown global option"
run search --bogus q
expect_usage "unknown command option"
run -x search q
expect_usage "unknown short option"
run --target
expect_usage "--target without its argument"
run search q --limit
expect_usage "--limit without its argument"
run search
expect_usage "search without QUERY"
run search a b
expect_usage "search with two QUERYs"
run search --limit -1 q
expect_usage "search --limit -1"
run search --limit 3x q
expect_usage "search --limit 3x"
run search --limit 99999999999 q
expect_usage "search --limit beyond int32"
run search --threshold abc q
expect_usage "search --threshold abc"
run search --threshold nan q
expect_usage "search --threshold nan"
run search --type fuzzy q
expect_usage "search --type fuzzy"
run --timeout -5 search q
expect_usage "--timeout -5"
run --timeout soon search q
expect_usage "--timeout soon"
run -H novalue search q
expect_usage "-H without ="
run -H '=v' search q
expect_usage "-H with empty key"
run -H 'bad key=v' search q
expect_usage "-H key the library refuses"
run -H 'x-ok=caf'$'\xc3\xa9' search q
expect_usage "-H non-ASCII value"
run -H 'grpc-timeout=1' search q
expect_usage "-H reserved grpc- key"
run -H 'x-trace-bin=not base64!' search q
expect_usage "-H -bin value not base64"
run embed
expect_usage "embed without TEXT or --image"
run embed --image /dev/null text
expect_usage "embed with TEXT and --image"
run embed --format png text
expect_usage "embed --format without --image"
run embed --type semantic-ish text
expect_usage "embed --type unknown word"
run process --asset-id a --path p
expect_usage "process without --mime"
run process --asset-id a --path p --mime m extra
expect_usage "process with an argument"
run process --asset-id a --path p --mime m --chunk-size big
expect_usage "process --chunk-size big"
run chat --history nocolon q
expect_usage "chat --history without ROLE:"
run chat --history ':content' q
expect_usage "chat --history with empty role"
run chat --max-docs many q
expect_usage "chat --max-docs many"
run chat
expect_usage "chat without QUERY"
run search ''
expect_usage "search '' (refused by the library before any RPC)"
expect_err_eq "search '' message" "aiw: INVALID_ARGUMENT: SearchRequest.query is required"
run chat $'\xff\xfe'
expect_usage "chat with invalid UTF-8 QUERY"
run --cert /dev/null search q
expect_usage "--cert without --key"
run -t '' search q
expect_usage "empty --target"

# ===================================================================== embed
run --json embed hello
expect_rc "embed hello --json" 0
expect_json "embed hello: 1024 semantic floats from the formula" embed text hello unknown
for t in semantic visual both; do
  run --json embed --type "$t" "text for $t"
  expect_rc "embed --type $t" 0
  expect_json "embed --type $t: vectors field by field" embed text "text for $t" "$t"
done
run --json embed ''
expect_rc "embed '' (empty text is content)" 0
expect_json "embed '': vector of the empty string" embed text '' unknown
run --json embed 'Zürich ☃'
expect_json "embed UTF-8 text" embed text 'Zürich ☃' unknown
run embed hello
expect_rc "embed human" 0
expect_out_eq "embed human: dims and first values" \
  "semantic: 1024 dims: -0.61 0.0621 -0.361 -0.8325 0.6876 0.5685 -0.1156 -0.1664 ..."$'\n'
run embed --type both hello
expect_out_has "embed human --type both: visual line" "visual: 1152 dims: 0.5168 0.8384 "
printf 'a\0b' >"$TMP/nul.png"
run --json embed --image "$TMP/nul.png"
expect_rc "embed --image (format from the extension)" 0
expect_json "embed --image: visual vector of the bytes (NUL included)" embed file "$TMP/nul.png" unknown
run --json embed --image "$TMP/nul.png" --type both --format webp
expect_json "embed --image --type both --format webp" embed file "$TMP/nul.png" both
head -c 3000 /dev/urandom >"$TMP/random.bin"
run_in "$TMP/random.bin" --json embed --image - --format png
expect_rc "embed --image - (standard input)" 0
expect_json "embed --image -: vector of the bytes read" embed file "$TMP/random.bin" unknown
run --json embed --image "$TMP/nul.png" --format bmp
expect_rc "embed unsupported format -> success=false" 17
expect_json "embed success=false: JSON keeps only error" json '[{"error":"unsupported image format: bmp"}]'
expect_err_eq "embed success=false: stderr" "aiw: SERVICE_ERROR: unsupported image format: bmp"
run --json embed --image "$TMP/random.bin"
expect_rc "embed --image FILE.bin: format 'bin' from the extension" 17
expect_json "embed format bin error text" json '[{"error":"unsupported image format: bin"}]'
run embed --image "$TMP/no-such-file.png"
expect_rc "embed --image missing file" 66
expect_err_eq "embed missing file: message" \
  "aiw: NO_INPUT: cannot read image file '$TMP/no-such-file.png': No such file or directory"
expect_out_empty "embed missing file: no output"
run embed --image "$TMP"
expect_rc "embed --image a directory" 66
run --json embed '!fail:no model'
expect_rc "embed !fail" 17
expect_json "embed !fail JSON" json '[{"error":"no model"}]'
run embed '!fail:no model'
expect_out_eq "embed !fail human" "error: no model"$'\n'

# ==================================================================== search
run --json search q
expect_rc "search q" 0
expect_json "search defaults: 10 of 12, every field" search unknown 0 0
run --json search --type visual --threshold 0.8 --limit 2 --filter image/ q
expect_json "search visual/0.8/2/image/" search visual 0.8 2 image/
run --json search --type semantic --filter owner=alice q
expect_json "search --filter owner=alice" search semantic 0 0 owner=alice
run --json search --type hybrid --limit 5 q
expect_json "search hybrid --limit 5" search hybrid 0 5
run --json search --type hybrid --filter kind=photo --filter image/ --threshold 0.5 q
expect_json "search two filters and a threshold" search hybrid 0.5 0 kind=photo image/
run --json search --threshold 0.99 q
expect_rc "search with no match" 0
expect_json "search no match: only success" json '[{"success":true}]'
run search --limit 3 q
expect_rc "search human" 0
expect_out_has "search table header" "SCORE"
expect_out_has "search table row 1" "doc-001"
expect_out_has "search table row 3" "Meeting notes: product launch"
expect_out_lacks "search table limited to 3" "img-004"
expect_out_has "search table footer" "3 results shown, 12 matched"
run search --type visual --threshold 0.99 q
expect_out_eq "search human, nothing matched" "0 results shown, 0 matched"$'\n'
run search q --json --limit 1 -t "$AIW_TARGET"
expect_json "global options after the command" search unknown 0 1
run --json search --type hybrid --limit 3 --threshold 0.7 --filter 'a=b' --filter 'c' '!echo'
expect_rc "search !echo" 0
expect_json "search !echo: every field reached the service" assert \
  'r = lines[0]["results"][0]; m = r["metadata"]; r["assetId"] == "echo" and f32(r["score"].value) == f32(0.7) and r["score"].text == "0.7" and r["mimeType"] == "SEARCH_HYBRID" and m["query"] == "!echo" and m["type"] == "SEARCH_HYBRID" and m["limit"] == "3" and m["threshold"] == "0.699999988079071" and m["filters"] == "a=b|c" and lines[0]["totalCount"].text == "1"'
run --json search '!fail:index down'
expect_rc "search !fail" 17
expect_json "search !fail JSON" json '[{"error":"index down"}]'
expect_err_eq "search !fail stderr" "aiw: SERVICE_ERROR: index down"
run search '!fail:index down'
expect_out_has "search !fail human still prints the response" "error: index down"
run --json search '!big:1000'
expect_json "search !big:1000 caption" json '[{"results":[{"assetId":"big","score":1.0,"caption":"'"$(printf 'x%.0s' $(seq 1000))"'","mimeType":"text/plain"}],"totalCount":1,"success":true}]'

# =================================================================== process
run --json process --asset-id a1 --path bucket/a1.png --mime image/png
expect_rc "process" 0
expect_json "process JSON" json '[{"success":true,"stage":"STAGE_COMPLETED","progress":1}]'
run process --asset-id a1 --path bucket/a1.png --mime image/png
expect_out_eq "process human" "success: true"$'\n'"stage: STAGE_COMPLETED"$'\n'"progress: 100%"$'\n'
run --json process --asset-id '!echo' --path 'b/o w' --mime text/plain
expect_json "process !echo without options" json \
  '[{"success":true,"error":"asset_id=!echo;file_path=b/o w;mime_type=text/plain;ocr=0;caption=0;embedding=0;summary=0;max_chunk_size=0;options=0","stage":"STAGE_PROCESSING","progress":0.5}]'
run --json process --asset-id '!echo' --path p --mime m --ocr --caption --embed --summary --chunk-size 512
expect_json "process !echo with every option" json \
  '[{"success":true,"error":"asset_id=!echo;file_path=p;mime_type=m;ocr=1;caption=1;embedding=1;summary=1;max_chunk_size=512;options=1","stage":"STAGE_PROCESSING","progress":0.5}]'
run --json process --asset-id '!echo' --path p --mime m --summary
expect_json "process !echo one option sends ProcessingOptions" json \
  '[{"success":true,"error":"asset_id=!echo;file_path=p;mime_type=m;ocr=0;caption=0;embedding=0;summary=1;max_chunk_size=0;options=1","stage":"STAGE_PROCESSING","progress":0.5}]'
run process --asset-id '!echo' --path p --mime m
expect_out_has "process human: stage" "stage: STAGE_PROCESSING"
expect_out_has "process human: progress" "progress: 50%"
run --json process --asset-id '!fail:disk full' --path p --mime m
expect_rc "process !fail" 17
expect_json "process !fail JSON (progress 0 and success false omitted)" json '[{"error":"disk full","stage":"STAGE_FAILED"}]'
expect_err_eq "process !fail stderr" "aiw: SERVICE_ERROR: disk full"

# ====================================================================== chat
TEXT_HI="You asked: hi. This is the reference AI service; its answers are deterministic, streamed in five chunks, with sources on the last one."
run chat hi
expect_rc "chat" 0
expect_out_eq "chat human: text, newline, sources" "$TEXT_HI"$'\n'"[1] doc-001 (score 0.9500) Quarterly report 2024 Q1"$'\n'"[2] doc-003 (score 0.8750) Meeting notes: product launch"$'\n'"[3] doc-005 (score 0.7500) Invoice #4411 from Acme"$'\n'
run --json chat hi
expect_rc "chat --json" 0
expect_json "chat --json: five messages field by field" chat hi 0 0 0
run --json chat --images hi
expect_json "chat --images" chat hi 0 0 1
run --json chat --max-docs 5 --threshold 0.5 hi
expect_json "chat --max-docs 5 --threshold 0.5" chat hi 5 0.5 0
run --json chat --max-docs 1 --images --threshold 0.92 hi
expect_json "chat --max-docs 1 --images --threshold 0.92" chat hi 1 0.92 1
run --json chat --history 'user:first question@1700000000' --history 'assistant:an answer: with colons' \
  --history 'user:mail me@example.com' --max-docs 2 --threshold 0.5 --images '!echo'
expect_rc "chat !echo with history" 0
expect_json "chat !echo: history, options and timestamps reached the service" assert \
  'c = [l.get("chunk") for l in lines]; s = lines[-1]["sources"]; m = s[0]["metadata"]; c == ["user|first question|1700000000\n", "assistant|an answer: with colons|0\n", "user|mail me@example.com|0\n", "options:max_context_docs=2,similarity_threshold=0.5,include_images=1,stream_response=1"] and lines[-1]["isFinal"] is True and all("isFinal" not in l and "sources" not in l for l in lines[:-1]) and len(s) == 1 and s[0]["assetId"] == "echo" and s[0]["caption"] == "!echo" and s[0]["score"].text in ("1", "1.0") and m["history"] == "3" and m["options"] == "1" and m["query"] == "!echo" and sorted(m) == ["history", "md:user-agent", "options", "query"]'
run --json chat '!echo'
expect_json "chat !echo without option flags: only stream_response=true sent" assert \
  'lines[-1]["chunk"] == "options:max_context_docs=0,similarity_threshold=0.0,include_images=0,stream_response=1" and lines[-1]["sources"][0]["metadata"]["options"] == "1" and lines[-1]["sources"][0]["metadata"]["history"] == "0"'
run --json chat --history 'user:x@-5' '!echo'
expect_json "chat --history negative timestamp" assert 'lines[0]["chunk"] == "user|x|-5\n"'
run chat --history 'user:line one' '!echo'
expect_out_eq "chat human: no newline added after text ending in one" \
  "user|line one|0"$'\n'"options:max_context_docs=0,similarity_threshold=0.0,include_images=0,stream_response=1"$'\n'"[1] echo (score 1.0000) !echo"$'\n'
run --json chat '!many:3'
expect_json "chat !many:3: empty final chunk omitted" assert \
  'len(lines) == 4 and [l.get("chunk") for l in lines] == ["chunk-0 ", "chunk-1 ", "chunk-2 ", None] and lines[3]["isFinal"] is True and "isFinal" not in lines[0] and [s["assetId"] for s in lines[3]["sources"]] == ["doc-001", "doc-003", "doc-005"]'
run chat '!many:2'
expect_out_eq "chat human !many:2" "chunk-0 chunk-1 "$'\n'"[1] doc-001 (score 0.9500) Quarterly report 2024 Q1"$'\n'"[2] doc-003 (score 0.8750) Meeting notes: product launch"$'\n'"[3] doc-005 (score 0.7500) Invoice #4411 from Acme"$'\n'
run --json chat $'tab\there, nl\nthere, bell\a, quote " backslash \\ caf\xc3\xa9 \xe2\x98\x83'
expect_rc "chat with control characters and UTF-8" 0
expect_json "chat JSON escapes control characters, keeps UTF-8" assert \
  'lines[0]["chunk"] == "You asked: tab\there, nl\nthere, bell\x07, quote \" backslash \\ caf\u00e9 \u2603. "'
if grep -qF '\u0007' "$OUT" && grep -qF '\t' "$OUT" && grep -qF '\n' "$OUT"; then ok "chat JSON: \\t \\n \\u0007 escapes on the line"; else not_ok "chat JSON escapes" "$(context)"; fi
run chat '!big:200000'
expect_rc "chat !big:200000" 0
if [ "$(head -n 1 "$OUT" | tr -d '\n' | wc -c)" -eq 200000 ]; then ok "chat !big: the whole chunk"; else not_ok "chat !big: chunk length" "$(context)"; fi

# A streamed chat: the first chunk is on stdout while aiw still runs.
"$AIW" chat '!slow:600' >"$TMP/stream.out" 2>"$TMP/stream.err" &
pid=$!
if wait_for "$TMP/stream.out" '^You asked: !slow:600\. ' 20; then
  if kill -0 "$pid" 2>/dev/null && ! grep -qF 'with sources' "$TMP/stream.out"; then
    ok "chat streams: first chunk printed while the call runs"
  else
    not_ok "chat streams: whole answer arrived at once" "$(cat "$TMP/stream.out")"
  fi
else
  not_ok "chat streams: no first chunk within 20 s" "$(cat "$TMP/stream.err")"
fi
wait "$pid"
RC=$?
OUT=$TMP/stream.out
ERR=$TMP/stream.err
expect_rc "streamed chat completes" 0
expect_out_eq "streamed chat: whole text, newline, sources" "${TEXT_HI/You asked: hi./You asked: !slow:600.}"$'\n'"[1] doc-001 (score 0.9500) Quarterly report 2024 Q1"$'\n'"[2] doc-003 (score 0.8750) Meeting notes: product launch"$'\n'"[3] doc-005 (score 0.7500) Invoice #4411 from Acme"$'\n'

# ============================================= gRPC status codes, exit status
for pair in CANCELLED:1 UNKNOWN:2 INVALID_ARGUMENT:3 NOT_FOUND:5 ALREADY_EXISTS:6 PERMISSION_DENIED:7 \
  RESOURCE_EXHAUSTED:8 FAILED_PRECONDITION:9 ABORTED:10 OUT_OF_RANGE:11 UNIMPLEMENTED:12 INTERNAL:13 \
  UNAVAILABLE:14 DATA_LOSS:15 UNAUTHENTICATED:16; do
  name=${pair%%:*}
  code=${pair##*:}
  run search "!error:$name:says the service: $code"
  expect_rc "search !error:$name" "$code"
  expect_err_eq "search !error:$name message" "aiw: $name: says the service: $code"
done
run --json embed '!error:NOT_FOUND:no such model'
expect_rc "embed !error:NOT_FOUND" 5
expect_out_empty "embed !error: no stdout"
expect_err_eq "embed !error message" "aiw: NOT_FOUND: no such model"
run process --asset-id '!error:PERMISSION_DENIED:not yours' --path p --mime m
expect_rc "process !error:PERMISSION_DENIED" 7
expect_err_eq "process !error message" "aiw: PERMISSION_DENIED: not yours"
run chat '!error:UNAUTHENTICATED:who are you'
expect_rc "chat !error:UNAUTHENTICATED" 16
expect_err_eq "chat !error message" "aiw: UNAUTHENTICATED: who are you"
expect_out_empty "chat !error before any chunk: no stdout"

# Error mid-stream: the chunks first, then the error.
run chat '!error-after:3:DATA_LOSS:lost the rest'
expect_rc "chat !error-after:3:DATA_LOSS" 15
expect_out_eq "chat error mid-stream: chunks printed, then a newline" "chunk-0 chunk-1 chunk-2 "$'\n'
expect_err_eq "chat error mid-stream: the error" "aiw: DATA_LOSS: lost the rest"
run --json chat '!error-after:2:RESOURCE_EXHAUSTED:quota: gone'
expect_rc "chat --json !error-after:2:RESOURCE_EXHAUSTED" 8
expect_json "chat --json error mid-stream: 2 lines first" json '[{"chunk":"chunk-0 "},{"chunk":"chunk-1 "}]'
expect_err_eq "chat --json error mid-stream: the error" "aiw: RESOURCE_EXHAUSTED: quota: gone"

# ================================================ deadline, target, transport
run --timeout 300 search '!slow:5000'
expect_rc "search --timeout 300 vs !slow:5000" 4
expect_err_has "deadline message" "aiw: DEADLINE_EXCEEDED: "
run --timeout 300 chat '!slow:5000'
expect_rc "chat --timeout 300 vs !slow:5000" 4
run --timeout 0 search --limit 1 '!slow:50'
expect_rc "--timeout 0 means no deadline" 0
run --json --timeout 20000 embed '!slow:50'
expect_json "embed !slow within --timeout" embed text '!slow:50' unknown
run -t 127.0.0.1:1 search q
expect_rc "unreachable target" 14
expect_err_has "unreachable target message" "aiw: UNAVAILABLE: "
AIW_TARGET=127.0.0.1:1 run --json search --limit 1 -t "127.0.0.1:$STARTED_PORT" q
expect_rc "-t overrides \$AIW_TARGET" 0
AIW_TARGET=127.0.0.1:1 run search q
expect_rc "\$AIW_TARGET is the default target" 14
AIW_TARGET=127.0.0.1:1 run --json -t "ipv4:127.0.0.1:1,127.0.0.1:$STARTED_PORT" search --limit 1 q
expect_rc "ipv4: target list" 0
run --json -t "dns:///localhost:$STARTED_PORT" search --limit 1 q
expect_rc "dns:/// target" 0
run --tls search q
expect_rc "--tls against a plaintext server" 14
run --ca "$TMP/no-such-ca.pem" search q
expect_rc "--ca missing file" 66
expect_err_has "--ca missing file message" "cannot read --ca file"
"$AIW" search q >/dev/full 2>"$TMP/full.err"
RC=$?
ERR=$TMP/full.err
expect_rc "stdout unwritable (/dev/full)" 74
expect_err_has "stdout unwritable message" "aiw: OUTPUT_ERROR: "

# Unimplemented method on a real gRPC server (no ChatStream registered).
if start_server "$TMP/server2.out" --no-chat; then
  SERVER2_PID=$STARTED_PID
  run -t "127.0.0.1:$STARTED_PORT" chat hi
  expect_rc "chat against a server without ChatStream" 12
  expect_err_has "UNIMPLEMENTED message" "aiw: UNIMPLEMENTED: "
  kill "$SERVER2_PID" && wait "$SERVER2_PID" 2>/dev/null
  SERVER2_PID=
else
  not_ok "second reference service did not start"
fi

# ====================================================================== TLS
# A CA, a server certificate for localhost/127.0.0.1 and a client certificate
# (EC keys: fast), and tests/cli/tls_server.py, which answers VectorSearch
# over TLS with {total_count: 7, success: true}.
TLS_JSON='[{"totalCount":7,"success":true}]'
mk_cert() { # NAME CN EXTENSIONS
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/$1.key" \
    -out "$TMP/$1.csr" -subj "/CN=$2" 2>/dev/null &&
    openssl x509 -req -in "$TMP/$1.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
      -out "$TMP/$1.pem" -days 2 -extfile <(printf '%s\n' "$3") 2>/dev/null
}
start_tls_server() { # OUTFILE ARGS...
  local outfile=$1
  shift
  "$PY" "$ROOT/tests/cli/tls_server.py" "$@" >"$outfile" 2>"$outfile.err" &
  STARTED_PID=$!
  wait_for "$outfile" '^LISTENING [0-9]+$' 60 || { cat "$outfile.err"; return 1; }
  STARTED_PORT=$(awk '/^LISTENING/ {print $2; exit}' "$outfile")
}
if ! command -v openssl >/dev/null; then
  echo "# SKIP TLS tests: no openssl to make test certificates"
elif openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/ca.key" \
  -out "$TMP/ca.pem" -days 2 -subj /CN=aiw-test-ca 2>/dev/null &&
  mk_cert server localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1' &&
  mk_cert client aiw-test-client 'extendedKeyUsage=clientAuth' &&
  start_tls_server "$TMP/tls1.out" --cert "$TMP/server.pem" --key "$TMP/server.key"; then
  SERVER2_PID=$STARTED_PID
  TLS_TARGET=127.0.0.1:$STARTED_PORT
  run --json --ca "$TMP/ca.pem" -t "$TLS_TARGET" search q
  expect_rc "TLS: --ca (implies --tls)" 0
  expect_json "TLS: answer over TLS" json "$TLS_JSON"
  run --json --tls --ca "$TMP/ca.pem" -t "localhost:${TLS_TARGET#*:}" search q
  expect_rc "TLS: --tls --ca to localhost" 0
  run --json --ca "$TMP/ca.pem" --server-name localhost -t "$TLS_TARGET" search q
  expect_rc "TLS: --server-name localhost" 0
  run --ca "$TMP/ca.pem" --server-name wrong.example -t "$TLS_TARGET" search q
  expect_rc "TLS: --server-name not in the certificate" 14
  expect_err_has "TLS: wrong name message" "aiw: UNAVAILABLE: "
  run --tls -t "$TLS_TARGET" search q
  expect_rc "TLS: default roots do not trust the test CA" 14
  run -t "$TLS_TARGET" search q
  expect_rc "plaintext against a TLS server" 14
  run --json -v --ca "$TMP/ca.pem" --token tls-t0k3n -t "$TLS_TARGET" search q
  expect_rc "TLS: --token without --insecure-token" 0
  expect_err_has "TLS: the server saw the token" "x-seen-authorization: Bearer tls-t0k3n"
  AIW_TOKEN=env-t0k3n run --json -v --ca "$TMP/ca.pem" -t "$TLS_TARGET" search q
  expect_rc "TLS: \$AIW_TOKEN" 0
  expect_err_has "TLS: the server saw \$AIW_TOKEN" "x-seen-authorization: Bearer env-t0k3n"
  run --ca "$TMP/ca.pem" -t "$TLS_TARGET" health
  expect_rc "health against a server without a health service" 12
  expect_err_has "health UNIMPLEMENTED message" "aiw: UNIMPLEMENTED: "
  expect_out_empty "health UNIMPLEMENTED: no stdout"
  kill "$SERVER2_PID" && wait "$SERVER2_PID" 2>/dev/null
  SERVER2_PID=
  if start_tls_server "$TMP/tls2.out" --cert "$TMP/server.pem" --key "$TMP/server.key" --client-ca "$TMP/ca.pem"; then
    SERVER2_PID=$STARTED_PID
    TLS_TARGET=127.0.0.1:$STARTED_PORT
    run --json --ca "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key" -t "$TLS_TARGET" search q
    expect_rc "mTLS: --cert --key" 0
    expect_json "mTLS: answer" json "$TLS_JSON"
    run --ca "$TMP/ca.pem" -t "$TLS_TARGET" search q
    expect_rc "mTLS: no client certificate" 14
    run --ca "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/no-such.key" -t "$TLS_TARGET" search q
    expect_rc "mTLS: --key missing file" 66
    expect_err_has "mTLS: --key missing file message" "aiw: NO_INPUT: cannot read --key file"
    kill "$SERVER2_PID" && wait "$SERVER2_PID" 2>/dev/null
    SERVER2_PID=
  else
    not_ok "mTLS test server did not start"
  fi
else
  not_ok "TLS test certificates or server could not be made"
fi

# ================================================= metadata reaches the server
event_for() { # REQUEST_ID: waits for its event line, prints it
  wait_for "$EVENTS" "\"request_id\": \"$1\"" 20 && grep -F "\"request_id\": \"$1\"" "$EVENTS" | tail -n 1
}
run -H x-request-id=cli-md-1 -H 'Authorization=Bearer t0k3n' -H 'x-empty=' -H 'x-trace-bin=AAEC/w' \
  -H 'x-url-bin=-_8' --json search '!echo'
expect_rc "search !echo with headers" 0
expect_json "headers reach the service (search !echo md:)" assert \
  'm = lines[0]["results"][0]["metadata"]; m["md:x-request-id"] == "cli-md-1" and m["md:authorization"] == "Bearer t0k3n" and m["md:x-empty"] == "" and m["md:x-trace-bin"] == "AAEC/w==" and m["md:x-url-bin"] == "+/8=" and m["md:user-agent"].startswith("aiw/1.0.0")'
ev=$(event_for cli-md-1)
if [ -n "$ev" ] && echo "$ev" | "$PY" -c 'import json,sys; e=json.loads(sys.stdin.read()); sys.exit(0 if e["rpc"]=="VectorSearch" and e["outcome"]=="OK" and e["metadata"]["authorization"]=="Bearer t0k3n" else 1)'; then
  ok "headers in the service's event log"
else
  not_ok "headers in the service's event log" "event: $ev"
fi
run --json -H x-request-id=cli-md-2 chat '!echo'
expect_json "headers reach the service (chat !echo md:)" assert \
  'lines[-1]["sources"][0]["metadata"]["md:x-request-id"] == "cli-md-2"'
run --json process -H x-request-id=cli-md-3 --asset-id a --path p --mime m
expect_rc "-H after the command" 0
ev=$(event_for cli-md-3)
if echo "$ev" | grep -qF '"rpc": "ProcessAsset"'; then ok "-H after the command reaches the service"; else
  not_ok "-H after the command reaches the service" "event: $ev"; fi
run --json -H x-request-id=cli-md-4 -H x-request-id=second chat '!echo'
expect_json "repeated header: both values sent" assert \
  'lines[-1]["sources"][0]["metadata"]["md:x-request-id"] == "cli-md-4,second"'

# ============================================================ Ctrl-C in chat
# SIGINT once the first chunk is out: the call is cancelled (the service sees
# CANCELLED), what arrived is kept, exit 130.
ctrl_c() { # NAME JSON-FLAG
  local name=$1 flag=$2 rid="cli-int-$RANDOM$RANDOM"
  # Fresh files: a stale first chunk from an earlier run would fire SIGINT
  # before aiw has even started.
  N=$((N + 1))
  INT_OUT=$TMP/int.out.$N
  "$AIW" $flag -H "x-request-id=$rid" chat '!slow:1000' >"$INT_OUT" 2>"$TMP/int.err.$N" &
  local pid=$!
  if ! wait_for "$INT_OUT" 'You asked: !slow:1000\. ' 20; then
    not_ok "$name: no first chunk" "$(cat "$TMP/int.err.$N")"
    kill "$pid"
    wait "$pid"
    return
  fi
  kill -INT "$pid"
  wait "$pid"
  RC=$?
  OUT=$INT_OUT
  ERR=$TMP/int.err.$N
  expect_rc "$name: SIGINT" 130
  expect_out_has "$name: what arrived is printed" 'You asked: !slow:1000. '
  expect_out_lacks "$name: the rest never came" 'with sources on the last one.'
  expect_err_eq "$name: message" "aiw: CANCELLED: interrupted (SIGINT)"
  local ev
  ev=$(event_for "$rid")
  if echo "$ev" | grep -qF '"outcome": "CANCELLED"'; then ok "$name: the service saw the cancellation"; else
    not_ok "$name: the service saw the cancellation" "event: $ev"; fi
}
ctrl_c "chat Ctrl-C" ""
if [ "$(tail -c 1 "$INT_OUT" | od -An -c | tr -d ' ')" = '\n' ]; then ok "chat Ctrl-C: output ends with a newline"; else
  not_ok "chat Ctrl-C: output ends with a newline" "$(cat "$INT_OUT")"; fi
ctrl_c "chat --json Ctrl-C" "--json"
if $EXPECT assert 'len(lines) >= 1 and lines[0] == {"chunk": "You asked: !slow:1000. "}' <"$INT_OUT" >/dev/null; then
  ok "chat --json Ctrl-C: complete JSON lines only"; else not_ok "chat --json Ctrl-C: complete JSON lines only" "$(cat "$INT_OUT")"; fi

# ========================================== response strings: bad UTF-8, NUL
# !badkey: a metadata key (and value) with a byte that is not UTF-8; both
# become U+FFFD, and the line is printed (not "out of memory").
run --json search '!badkey'
expect_rc "search !badkey (invalid UTF-8 in a map key)" 0
expect_json "search !badkey: key and value get U+FFFD, keys sorted" json \
  '[{"results":[{"assetId":"badkey","score":1.0,"metadata":{"k\ufffdey":"v\ufffdalue","ok":"fine"}}],"totalCount":1,"success":true}]'
expect_err_empty "search !badkey: nothing on stderr"
run search '!badkey'
expect_rc "search !badkey human" 0
expect_out_has "search !badkey human: the row" "badkey"
# !nul: strings with NUL bytes are printed whole: the bytes for people,
# \u0000 in JSON.
NUL_SOURCE='{"assetId":"nul\u0000id","score":1.0,"caption":"cap\u0000tion","mimeType":"text/plain","metadata":{"k\u0000ey":"v\u0000alue"}}'
run --json chat '!nul'
expect_rc "chat --json !nul" 0
expect_json "chat --json !nul: chunks, caption, metadata key and value whole" json \
  '[{"chunk":"before\u0000after "},{"chunk":"second\u0000chunk","isFinal":true,"sources":['"$NUL_SOURCE"']}]'
if grep -qF 'before\u0000after ' "$OUT"; then ok "chat --json !nul: NUL written as \\u0000"; else
  not_ok "chat --json !nul: NUL written as \\u0000" "$(context)"; fi
run chat '!nul'
expect_rc "chat !nul" 0
expect_out_bytes "chat !nul: the chunks' bytes (NULs kept), the source's NUL shown as a space" \
  'before\0after second\0chunk\n[1] nul id (score 1.0000) cap tion\n'
run --json search '!nul'
expect_rc "search --json !nul (success=false)" 17
expect_json "search --json !nul: every string whole" json \
  '[{"results":['"$NUL_SOURCE"'],"totalCount":1,"error":"error\u0000after NUL"}]'
expect_err_bytes "search !nul: the whole error text on stderr" 'aiw: SERVICE_ERROR: error\0after NUL\n'
run search '!nul'
expect_rc "search !nul human" 17
expect_out_bytes "search !nul human: table (NUL as space) and the error's bytes" \
  '#    SCORE    ASSET_ID MIME_TYPE  CAPTION\n1    1.0000   nul id   text/plain cap tion\n1 result shown, 1 matched\nerror: error\0after NUL\n'
run --json embed '!nul'
expect_rc "embed --json !nul" 17
expect_json "embed --json !nul: error whole" json '[{"error":"error\u0000after NUL"}]'
run embed '!nul'
expect_out_bytes "embed !nul human" 'error: error\0after NUL\n'
expect_err_bytes "embed !nul stderr" 'aiw: SERVICE_ERROR: error\0after NUL\n'
run --json process --asset-id '!nul' --path p --mime m
expect_rc "process --json !nul" 17
expect_json "process --json !nul: error whole" json '[{"error":"error\u0000after NUL","stage":"STAGE_FAILED"}]'
run process --asset-id '!nul' --path p --mime m
expect_out_bytes "process !nul human" 'success: false\nstage: STAGE_FAILED\nprogress: 0%%\nerror: error\0after NUL\n'

# ============================================ input files: size caps, signals
# A guard for regressions: an unbounded read of /dev/zero fails on the
# address-space limit instead of eating the machine.
run_capped() { # run|run_in ARGS...: that, under `ulimit -v` (4 GB), in a subshell
  (ulimit -v 4000000 && "$@" && echo "$RC" >"$TMP/capped.rc")
  N=$((N + 1))
  OUT=$TMP/out.$N
  ERR=$TMP/err.$N
  RC=$(cat "$TMP/capped.rc" 2>/dev/null || echo 255)
  rm -f "$TMP/capped.rc"
}
run_capped run --ca /dev/zero search q
expect_rc "--ca /dev/zero: capped" 66
expect_err_eq "--ca /dev/zero: message" "aiw: NO_INPUT: --ca file '/dev/zero' is larger than 1048576 bytes"
expect_out_empty "--ca /dev/zero: no output"
run_capped run --cert /dev/zero --key /dev/null search q
expect_rc "--cert /dev/zero: capped" 66
expect_err_eq "--cert /dev/zero: message" "aiw: NO_INPUT: --cert file '/dev/zero' is larger than 1048576 bytes"
run_capped run --cert /dev/null --key /dev/zero search q
expect_rc "--key /dev/zero: capped" 66
expect_err_eq "--key /dev/zero: message" "aiw: NO_INPUT: --key file '/dev/zero' is larger than 1048576 bytes"
run_capped run embed --image /dev/zero
expect_rc "embed --image /dev/zero: capped" 66
expect_err_eq "embed --image /dev/zero: message" "aiw: NO_INPUT: image file '/dev/zero' is larger than 67108864 bytes"
run_capped run_in /dev/zero embed --image -
expect_rc "embed --image - from /dev/zero: capped" 66
expect_err_eq "embed --image - from /dev/zero: message" "aiw: NO_INPUT: image file '-' is larger than 67108864 bytes"
truncate -s $((64 * 1024 * 1024 + 1)) "$TMP/big.png"
run embed --image "$TMP/big.png"
expect_rc "embed --image of 64 MiB + 1 byte" 66
rm -f "$TMP/big.png"
head -c $((1024 * 1024)) /dev/zero >"$TMP/mib.pem"
run --ca "$TMP/mib.pem" search q
if [ "$RC" -ne 66 ]; then ok "--ca of exactly 1 MiB is read (exit $RC: not a PEM)"; else not_ok "--ca of exactly 1 MiB is read" "$(context)"; fi
head -c 1 /dev/zero >>"$TMP/mib.pem"
run --ca "$TMP/mib.pem" search q
expect_rc "--ca of 1 MiB + 1 byte" 66
rm -f "$TMP/mib.pem"

# A FIFO that never sends: the read waits, and SIGINT/SIGTERM end it at once.
wait_fd_open() { # PID PATH SECONDS: polls until PID has PATH open
  local deadline=$((SECONDS + $3)) f
  while [ $SECONDS -lt $deadline ] && kill -0 "$1" 2>/dev/null; do
    for f in /proc/"$1"/fd/*; do [ "$(readlink "$f" 2>/dev/null)" = "$2" ] && return 0; done
    sleep 0.05
  done
  return 1
}
wait_exit() { # PID SECONDS: waits for PID to end; RC its status, or 255 (killed) after SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ] && kill -0 "$1" 2>/dev/null; do sleep 0.05; done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1"
    wait "$1"
    RC=255
  else
    wait "$1"
    RC=$?
  fi
}
fifo_interrupt() { # NAME SIGNAL WANT-RC WRITER(0|1) AIW-ARGS...
  local name=$1 sig=$2 want=$3 writer=$4
  shift 4
  rm -f "$TMP/fifo"
  mkfifo "$TMP/fifo"
  [ "$writer" = 1 ] && exec 7<>"$TMP/fifo" # a writer that never writes
  N=$((N + 1))
  OUT=$TMP/out.$N
  ERR=$TMP/err.$N
  "$AIW" "$@" >"$OUT" 2>"$ERR" </dev/null 7>&- &
  local pid=$!
  if wait_fd_open "$pid" "$TMP/fifo" 20; then
    kill -"$sig" "$pid"
    wait_exit "$pid" 10
    expect_rc "$name: SIG$sig ends the read" "$want"
    expect_err_eq "$name: message" "aiw: CANCELLED: interrupted (SIG$sig)"
  else
    not_ok "$name: aiw never opened the FIFO" "$(cat "$ERR")"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
  fi
  [ "$writer" = 1 ] && exec 7>&-
  rm -f "$TMP/fifo"
}
fifo_interrupt "embed --image FIFO with an idle writer" INT 130 1 embed --image "$TMP/fifo"
fifo_interrupt "embed --image FIFO without a writer" INT 130 0 embed --image "$TMP/fifo"
fifo_interrupt "--ca FIFO with an idle writer" INT 130 1 --ca "$TMP/fifo" search q
fifo_interrupt "--key FIFO, SIGTERM" TERM 143 1 --cert /dev/null --key "$TMP/fifo" search q
# A FIFO that does send is read to its end.
mkfifo "$TMP/fifo"
printf 'a\0b' >"$TMP/fifo" &
writer=$!
run --json embed --image "$TMP/fifo" --format png
wait "$writer"
expect_rc "embed --image FIFO that sends" 0
expect_json "embed --image FIFO: vector of the bytes sent" embed file "$TMP/nul.png" unknown
rm -f "$TMP/fifo"

# ============================================== closed descriptors, SIGPIPE
"$AIW" search q >&- 2>"$TMP/closed.err"
RC=$?
OUT=/dev/null
ERR=$TMP/closed.err
expect_rc "search with stdout closed" 74
expect_err_eq "stdout closed: output error" "aiw: OUTPUT_ERROR: cannot write to standard output: Bad file descriptor"
"$AIW" chat hi >&- 2>"$TMP/closed.err"
RC=$?
expect_rc "chat with stdout closed" 74
expect_err_eq "chat, stdout closed: output error" "aiw: OUTPUT_ERROR: cannot write to standard output: Bad file descriptor"
"$AIW" --json search q >&- 2>"$TMP/closed.err"
RC=$?
expect_rc "search --json with stdout closed" 74
"$AIW" --version >&- 2>"$TMP/closed.err"
RC=$?
expect_rc "--version with stdout closed" 74
expect_err_has "--version, stdout closed: message" "aiw: OUTPUT_ERROR: "
"$AIW" search q >&- 2>&-
RC=$?
expect_rc "stdout and stderr closed" 74
"$AIW" embed --image - <&- >"$TMP/closed.out" 2>"$TMP/closed.err" &
wait_exit $! 20 # a regression reads some other descriptor, maybe for ever
OUT=$TMP/closed.out
expect_rc "embed --image - with stdin closed" 66
expect_err_eq "stdin closed: message" "aiw: NO_INPUT: cannot read image file '-': Bad file descriptor"
# With stdin and stderr closed, fds 0 and 2 are /dev/null while the call runs
# (not gRPC's epoll fd or eventfd), and the answer is whole.
"$AIW" chat '!slow:300' <&- >"$TMP/closed.out" 2>&- &
pid=$!
if wait_for "$TMP/closed.out" '^You asked: ' 20; then
  fds="$(readlink /proc/$pid/fd/0) $(readlink /proc/$pid/fd/2)"
  if [ "$fds" = "/dev/null /dev/null" ]; then ok "stdin, stderr closed: fds 0 and 2 are /dev/null"; else
    not_ok "stdin, stderr closed: fds 0 and 2 are /dev/null" "fd 0, 2: $fds"; fi
else
  not_ok "stdin, stderr closed: no first chunk"
fi
wait_exit "$pid" 30
OUT=$TMP/closed.out
expect_rc "chat with stdin and stderr closed" 0
expect_out_eq "chat with stdin and stderr closed: whole answer" "${TEXT_HI/You asked: hi./You asked: !slow:300.}"$'\n'"[1] doc-001 (score 0.9500) Quarterly report 2024 Q1"$'\n'"[2] doc-003 (score 0.8750) Meeting notes: product launch"$'\n'"[3] doc-005 (score 0.7500) Invoice #4411 from Acme"$'\n'
"$AIW" search '!error:NOT_FOUND:gone' 2>&- >"$TMP/closed.out"
RC=$?
OUT=$TMP/closed.out
expect_rc "stderr closed: the call's status still" 5
expect_out_empty "stderr closed: nothing on stdout"

# A reader that goes away (| head -c1): EPIPE is an output error, 74, not
# death by SIGPIPE (141). The answers are larger than a pipe holds.
pipe_closed() { # NAME AIW-ARGS...
  local name=$1
  shift
  "$AIW" "$@" 2>"$TMP/pipe.err" </dev/null | head -c1 >/dev/null
  RC=${PIPESTATUS[0]}
  ERR=$TMP/pipe.err
  expect_rc "$name | head -c1" 74
  expect_err_eq "$name | head -c1: message" "aiw: OUTPUT_ERROR: cannot write to standard output: Broken pipe"
}
pipe_closed "chat !big:200000" chat '!big:200000'
pipe_closed "chat --json !big:200000" --json chat '!big:200000'
pipe_closed "search !big:300000" search '!big:300000'
pipe_closed "search --json !big:300000" --json search '!big:300000'

# Arguments gRPC core would abort on or silently reinterpret (issue 10):
# refused by libaiw before any call, exit 64, no crash.
for t in 127.0.0.1:99999 127.0.0.1:-1 :-1 127.0.0.1:65536; do
  run -t "$t" embed hi
  expect_usage "target $t (port out of range)"
  expect_err_has "target $t: says why" "port outside 1..65535"
done
run --tls --server-name '' embed hi
expect_usage "--server-name '' (gRPC core aborted on it)"
run --tls --server-name "$(printf 'a%.0s' $(seq 256))" embed hi
expect_usage "--server-name of 256 bytes"

# ============================================= the production channel (1.2)
# --service-config, --keepalive, --compress, --token, health, -v.

# -v: the response headers and trailers on stderr, as grpcurl -v prints
# them; stdout exactly as without -v.
ECHO_H=(-H x-grpc-test-echo-initial=hello -H x-grpc-test-echo-trailing-bin=AAEC/w)
PEER_LINE="Peer: ipv4:$AIW_TARGET"
run -v "${ECHO_H[@]}" search --limit 1 q
expect_rc "search -v" 0
expect_err_eq "search -v: headers, trailers (-bin in base64), peer" \
  $'\nResponse headers received:\nx-grpc-test-echo-initial: hello\n\nResponse trailers received:\nx-grpc-test-echo-trailing-bin: AAEC/w==\n\n'"$PEER_LINE"
run -v search --limit 1 q
expect_err_eq "search -v, nothing echoed: (empty)" \
  $'\nResponse headers received:\n(empty)\n\nResponse trailers received:\n(empty)\n\n'"$PEER_LINE"
run -v -H x-grpc-test-echo-initial=b1 -H x-grpc-test-echo-initial=a2 -H x-grpc-test-echo-trailing-bin=/w \
  -H x-grpc-test-echo-trailing-bin=AA search --limit 1 q
expect_err_has "-v: a repeated header, each value on its line (1)" $'x-grpc-test-echo-initial: b1\nx-grpc-test-echo-initial: a2\n'
expect_err_has "-v: a repeated trailer, each value on its line" $'x-grpc-test-echo-trailing-bin: /w==\nx-grpc-test-echo-trailing-bin: AA==\n'
same_stdout() { # NAME AIW-ARGS...: stdout and exit status of `aiw -v ARGS` are those of `aiw ARGS`
  local name=$1
  shift
  run "$@"
  local out0=$OUT rc0=$RC
  run -v "${ECHO_H[@]}" "$@"
  if [ "$RC" -eq "$rc0" ] && cmp -s "$out0" "$OUT"; then ok "$name: -v leaves stdout and exit status alone"; else
    not_ok "$name: -v changed stdout or exit status" "without -v: rc=$rc0 $(head -c 300 "$out0")" "$(context)"; fi
  expect_err_has "$name -v: echoed header" $'Response headers received:\nx-grpc-test-echo-initial: hello\n'
  expect_err_has "$name -v: echoed trailer" $'Response trailers received:\nx-grpc-test-echo-trailing-bin: AAEC/w==\n'
}
same_stdout "search" search --limit 3 q
same_stdout "search --json" --json search q
same_stdout "embed" embed hello
same_stdout "embed --json" --json embed --type both hello
same_stdout "process" process --asset-id a --path p --mime m
same_stdout "chat" chat '!many:3'
same_stdout "chat --json" --json chat hi
same_stdout "search success=false" search '!fail:index down'
same_stdout "search !error" search '!error:NOT_FOUND:gone'
same_stdout "health" health
same_stdout "health --json" --json health
run -v "${ECHO_H[@]}" search '!error:NOT_FOUND:gone'
expect_rc "search !error -v" 5
if [ "$(tail -n 1 "$ERR")" = "aiw: NOT_FOUND: gone" ]; then ok "-v: the error line comes last"; else
  not_ok "-v: the error line comes last" "$(context)"; fi
# chat: the headers when the first message arrives (before the answer), the
# trailers after it; one file for both streams shows the order.
N=$((N + 1))
"$AIW" -v "${ECHO_H[@]}" chat '!many:2' >"$TMP/merged.$N" 2>&1 </dev/null
RC=$?
OUT=$TMP/merged.$N
ERR=$OUT
expect_rc "chat -v, stdout and stderr in one file" 0
expect_out_eq "chat -v: headers, the answer, then trailers and peer" \
  $'\nResponse headers received:\nx-grpc-test-echo-initial: hello\nchunk-0 chunk-1 \n[1] doc-001 (score 0.9500) Quarterly report 2024 Q1\n[2] doc-003 (score 0.8750) Meeting notes: product launch\n[3] doc-005 (score 0.7500) Invoice #4411 from Acme\n\nResponse trailers received:\nx-grpc-test-echo-trailing-bin: AAEC/w==\n\n'"$PEER_LINE"$'\n'
run -v -t 127.0.0.1:1 search q
expect_rc "-v, unreachable target" 14
expect_err_has "-v, unreachable: (empty) headers" $'Response headers received:\n(empty)\n'
expect_err_has "-v, unreachable: (empty) trailers" $'Response trailers received:\n(empty)\n'
run --verbose --json search --limit 1 q
expect_rc "--verbose" 0
expect_err_has "--verbose is -v" "Response trailers received:"
run search -v --limit 1 q
expect_err_has "-v after the command" "Response headers received:"
run -v search ''
expect_usage "-v: a usage error prints no response info"

# health: SERVING exits 0, any other answer 69, a failed call its gRPC code.
run health
expect_rc "health" 0
expect_out_eq "health: SERVING" "SERVING"$'\n'
expect_err_empty "health: nothing on stderr"
run --json health
expect_json "health --json" json '[{"status":"SERVING"}]'
run health ai_service.AiWorker
expect_rc "health ai_service.AiWorker" 0
expect_out_eq "health ai_service.AiWorker: SERVING" "SERVING"$'\n'
run health no.such.Service
expect_rc "health of an unknown service" 69
expect_out_eq "health unknown service: SERVICE_UNKNOWN" "SERVICE_UNKNOWN"$'\n'
expect_err_eq "health unknown service: stderr" "aiw: UNHEALTHY: health of service 'no.such.Service': SERVICE_UNKNOWN"
run --json health no.such.Service
expect_rc "health --json unknown service" 69
expect_json "health --json SERVICE_UNKNOWN" json '[{"status":"SERVICE_UNKNOWN"}]'
run -t 127.0.0.1:1 health
expect_rc "health, unreachable target" 14
expect_err_has "health unreachable: message" "aiw: UNAVAILABLE: "
expect_out_empty "health unreachable: no stdout"
run --timeout 1 -t 127.0.0.1:1 health
if [ "$RC" -eq 4 ] || [ "$RC" -eq 14 ]; then ok "health --timeout 1: a failed call's code ($RC)"; else
  not_ok "health --timeout 1" "$(context)"; fi
run health a b
expect_usage "health with two SERVICEs"
run health --limit 3
expect_usage "health with a search option"
run health $'\xff'
expect_usage "health SERVICE not UTF-8 (refused by libaiw)"

# --keepalive: whole seconds >= 1.
run --keepalive 300 --json search --limit 1 q
expect_rc "--keepalive 300" 0
expect_json "--keepalive 300: the answer" search unknown 0 1
# The pings really go out: against a server that allows one per 2 s, a
# 1 s keepalive during a silent stream earns GOAWAY too_many_pings (exit 14
# UNAVAILABLE); a server that allows one per 0.5 s lets the same stream end.
if start_server "$TMP/ka-strict.out" --min-ping-interval-ms 2000; then
  ka_strict=$STARTED_PID
  AIW_TARGET=127.0.0.1:$STARTED_PORT run --keepalive 1 chat '!hold:9000'
  expect_rc "--keepalive 1 against a server allowing one ping per 2 s: GOAWAY too_many_pings" 14
  kill "$ka_strict" 2>/dev/null; wait "$ka_strict" 2>/dev/null
else not_ok "a server with --min-ping-interval-ms 2000 did not start" ""; fi
if start_server "$TMP/ka-lenient.out" --min-ping-interval-ms 500; then
  ka_lenient=$STARTED_PID
  AIW_TARGET=127.0.0.1:$STARTED_PORT run --keepalive 1 chat '!hold:4000'
  expect_rc "--keepalive 1 against a server allowing one per 0.5 s: the silent stream ends OK" 0
  kill "$ka_lenient" 2>/dev/null; wait "$ka_lenient" 2>/dev/null
else not_ok "a server with --min-ping-interval-ms 500 did not start" ""; fi
for bad in 0 abc -5 1.5 '' 2147484; do
  run --keepalive "$bad" search q
  expect_usage "--keepalive '$bad'"
done
run --keepalive 0 search q
expect_err_has "--keepalive 0: says what it wants" "--keepalive wants whole seconds, 1..2147483, got '0'"

# --token / $AIW_TOKEN: refused over plaintext without --insecure-token.
run --token t0k3n search q
expect_usage "--token over plaintext"
expect_err_has "--token over plaintext: names --tls" "--tls"
expect_err_has "--token over plaintext: names --insecure-token" "--insecure-token"
AIW_TOKEN=t0k3n run search q
expect_usage "\$AIW_TOKEN over plaintext"
expect_err_has "\$AIW_TOKEN over plaintext: names the variable" "\$AIW_TOKEN would be sent over plaintext"
AIW_TOKEN= run --json search --limit 1 q
expect_rc "empty \$AIW_TOKEN: no token" 0
run --token '' search q
expect_usage "--token ''"
run --insecure-token --token $'t\x01k' search q
expect_usage "--token with a control character"
run --json --insecure-token --token cli-t0k3n -H x-request-id=cli-tok-1 search --limit 1 q
expect_rc "--token --insecure-token" 0
ev=$(event_for cli-tok-1)
if echo "$ev" | grep -qF '"authorization": "Bearer cli-t0k3n"'; then ok "--token: the service saw authorization: Bearer"; else
  not_ok "--token: the service saw authorization: Bearer" "event: $ev"; fi
AIW_TOKEN=env-t0k3n run --json --insecure-token -H x-request-id=cli-tok-2 search --limit 1 q
expect_rc "\$AIW_TOKEN --insecure-token" 0
ev=$(event_for cli-tok-2)
if echo "$ev" | grep -qF '"authorization": "Bearer env-t0k3n"'; then ok "\$AIW_TOKEN reaches the service"; else
  not_ok "\$AIW_TOKEN reaches the service" "event: $ev"; fi
AIW_TOKEN=env-t0k3n run --json --insecure-token --token flag-t0k3n -H x-request-id=cli-tok-3 chat '!echo'
expect_rc "--token and \$AIW_TOKEN" 0
expect_json "--token wins over \$AIW_TOKEN" assert \
  'lines[-1]["sources"][0]["metadata"]["md:authorization"] == "Bearer flag-t0k3n"'
run --insecure-token --token t0k3n health
expect_rc "health --token --insecure-token" 0
run --insecure-token --json search --limit 1 q
expect_rc "--insecure-token without a token: nothing changes" 0
run --json search '!echo'
expect_json "no token: no authorization header" assert \
  '"md:authorization" not in lines[0]["results"][0]["metadata"]'

# --compress: a server that accepts only identity refuses a compressed
# request (UNIMPLEMENTED before any handler): proof that aiw compressed it.
run --compress lz4 search q
expect_usage "--compress lz4"
expect_err_has "--compress lz4: the choices" "--compress is gzip, deflate or identity, not 'lz4'"
run --compress gzip --json embed hello
expect_rc "--compress gzip against a normal server" 0
expect_json "--compress gzip: the answer" embed text hello unknown
run --compress deflate --json search --limit 1 q
expect_rc "--compress deflate against a normal server" 0
run --compress GZIP chat hi
expect_rc "--compress GZIP (any case)" 0
if start_server "$TMP/server3.out" --reject-compressed-requests; then
  SERVER3_PID=$STARTED_PID
  PLAIN_ONLY=127.0.0.1:$STARTED_PORT
  run -t "$PLAIN_ONLY" --json embed hello
  expect_rc "no --compress vs --reject-compressed-requests" 0
  expect_json "no --compress: the answer" embed text hello unknown
  run -t "$PLAIN_ONLY" --compress identity search --limit 1 q
  expect_rc "--compress identity vs --reject-compressed-requests" 0
  for alg in gzip deflate; do
    run -t "$PLAIN_ONLY" --compress "$alg" embed hello
    expect_rc "--compress $alg vs --reject-compressed-requests" 12
    expect_err_eq "--compress $alg refused: the server's reason" "aiw: UNIMPLEMENTED: Compression algorithm '$alg' is disabled."
  done
  run -t "$PLAIN_ONLY" --compress gzip chat hi
  expect_rc "chat --compress gzip vs --reject-compressed-requests" 12
  run -t "$PLAIN_ONLY" --compress gzip health
  expect_rc "health --compress gzip vs --reject-compressed-requests" 12
  kill "$SERVER3_PID" && wait "$SERVER3_PID" 2>/dev/null
  SERVER3_PID=
else
  not_ok "--reject-compressed-requests service did not start"
fi

# --service-config FILE.
printf '%s' '{"loadBalancingConfig":[{"no_such_policy":{}}]}' >"$TMP/sc-badlb.json"
run --service-config "$TMP/sc-badlb.json" search q
expect_usage "--service-config with an unknown policy"
expect_err_has "unknown policy: gRPC's reason" "No known policies in list: no_such_policy"
expect_err_has "unknown policy: the INVALID_ARGUMENT line" "aiw: INVALID_ARGUMENT: "
printf '{"methodConfig": [' >"$TMP/sc-notjson.json"
run --service-config "$TMP/sc-notjson.json" health
expect_usage "--service-config that is not JSON"
expect_err_has "not JSON: gRPC's reason" "JSON parsing failed"
printf '%s' '{"methodConfig":[{"name":[{}],"timeout":"soon"}]}' >"$TMP/sc-badtimeout.json"
run --service-config "$TMP/sc-badtimeout.json" search q
expect_usage "--service-config with a bad timeout"
expect_err_has "bad timeout: gRPC names the field" "timeout"
printf '{}\0{}' >"$TMP/sc-nul.json"
run --service-config "$TMP/sc-nul.json" search q
expect_usage "--service-config holding a NUL byte"
run --service-config "$TMP/no-such-config.json" search q
expect_rc "--service-config missing file" 66
expect_err_eq "--service-config missing file: message" \
  "aiw: NO_INPUT: cannot read --service-config file '$TMP/no-such-config.json': No such file or directory"
expect_out_empty "--service-config missing file: no output"
run --service-config "$TMP" search q
expect_rc "--service-config a directory" 66
run_capped run --service-config /dev/zero search q
expect_rc "--service-config /dev/zero: capped" 66
printf '%s' '{}' >"$TMP/sc-empty.json"
run --service-config "$TMP/sc-empty.json" --json search --limit 1 q
expect_rc "--service-config {}" 0
RETRY_CONFIG='{"methodConfig":[{"name":[{"service":"ai_service.AiWorker"}],"retryPolicy":{"maxAttempts":3,"initialBackoff":"0.01s","maxBackoff":"0.1s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}'
printf '%s' "$RETRY_CONFIG" >"$TMP/sc-retry.json"
run --compress gzip --service-config "$TMP/sc-retry.json" search q
expect_usage "--compress with a retryPolicy"
expect_err_has "--compress with a retryPolicy: libaiw says why" "compressed request that it retries"
KEY=cli-retry-$RANDOM$RANDOM
run process --asset-id "!fail-attempts:1:$KEY-a" --path p --mime m
expect_rc "!fail-attempts:1 without a retry policy" 14
run -v --service-config "$TMP/sc-retry.json" --json process --asset-id "!fail-attempts:2:$KEY-b" --path p --mime m
expect_rc "--service-config retryPolicy: the third attempt succeeds" 0
expect_json "retryPolicy: the answer" json '[{"success":true,"stage":"STAGE_COMPLETED","progress":1}]'
expect_err_has "retryPolicy: -v shows the attempt" $'x-aiw-attempt: 3\n'
expect_err_has "retryPolicy: -v shows gRPC's previous attempts" $'x-aiw-previous-attempts: 2\n'

# round_robin and client-side health checking over two replicas (--name r0,
# r1): -v shows which one answered (trailer x-aiw-replica).
if start_server "$TMP/r0.out" --name r0; then
  SERVER3_PID=$STARTED_PID
  R0_PID=$STARTED_PID
  R0=127.0.0.1:$STARTED_PORT
fi
if [ -n "$SERVER3_PID" ] && start_server "$TMP/r1.out" --name r1; then
  SERVER2_PID=$STARTED_PID
  R1=127.0.0.1:$STARTED_PORT
  replica() { sed -n 's/^x-aiw-replica: //p' "$ERR"; }
  printf '%s' '{"loadBalancingConfig":[{"round_robin":{}}]}' >"$TMP/sc-rr.json"
  printf '%s' '{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}' >"$TMP/sc-rr-health.json"
  seen=
  for i in 1 2 3; do
    run -v --service-config "$TMP/sc-rr.json" -t "ipv4:$R0,$R1" --json search --limit 1 q
    expect_rc "round_robin call $i" 0
    r=$(replica)
    case $r in r0 | r1) ok "round_robin call $i: answered by $r"; seen="$seen $r" ;; *) not_ok "round_robin call $i: replica '$r'" "$(context)" ;; esac
  done
  run -v -t "ipv4:$R0,$R1" search --limit 1 q
  if [ "$(replica)" = r0 ]; then ok "pick_first (no --service-config): r0, the first address"; else
    not_ok "pick_first: r0" "$(context)"; fi
  # r0 NOT_SERVING: round_robin with healthCheckConfig sends every call to r1;
  # pick_first, which does no health checking, still to r0.
  kill -USR1 "$R0_PID"
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    run -t "$R0" health
    [ "$RC" -ne 0 ] && break
    sleep 0.05
  done
  expect_rc "health after SIGUSR1" 69
  expect_out_eq "health after SIGUSR1: NOT_SERVING" "NOT_SERVING"$'\n'
  expect_err_eq "health NOT_SERVING: stderr" "aiw: UNHEALTHY: health of the server: NOT_SERVING"
  run --json -t "$R0" health ai_service.AiWorker
  expect_rc "health ai_service.AiWorker after SIGUSR1" 69
  expect_json "health --json NOT_SERVING" json '[{"status":"NOT_SERVING"}]'
  run -t "$R1" health
  expect_rc "the other replica still SERVING" 0
  for i in 1 2 3; do
    run -v --service-config "$TMP/sc-rr-health.json" -t "ipv4:$R0,$R1" process --asset-id a --path p --mime m
    expect_rc "round_robin + health checking, r0 NOT_SERVING, call $i" 0
    if [ "$(replica)" = r1 ]; then ok "r0 NOT_SERVING, call $i: answered by r1"; seen="$seen r1"; else
      not_ok "r0 NOT_SERVING, call $i: want r1" "$(context)"; fi
  done
  run -v -t "ipv4:$R0,$R1" process --asset-id a --path p --mime m
  if [ "$(replica)" = r0 ]; then ok "r0 NOT_SERVING, pick_first: still r0"; seen="$seen r0"; else
    not_ok "r0 NOT_SERVING, pick_first: r0" "$(context)"; fi
  case " $seen " in *" r0 "*) case " $seen " in *" r1 "*) ok "-v showed both replicas' trailers" ;; *) not_ok "-v showed both replicas: $seen" ;; esac ;;
    *) not_ok "-v showed both replicas: $seen" ;; esac
  # Both NOT_SERVING: round_robin with health checking has no backend.
  run -t "$R1" process --asset-id '!health:NOT_SERVING' --path p --mime m
  expect_rc "!health:NOT_SERVING directive" 0
  run -t "$R1" health
  expect_rc "health after !health:NOT_SERVING" 69
  run --timeout 10000 --service-config "$TMP/sc-rr-health.json" -t "ipv4:$R0,$R1" search q
  expect_rc "round_robin + health checking, no backend serving" 14
  kill -USR2 "$R0_PID"
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    run -t "$R0" health
    [ "$RC" -eq 0 ] && break
    sleep 0.05
  done
  expect_rc "health after SIGUSR2: SERVING again" 0
  expect_out_eq "health after SIGUSR2: SERVING" "SERVING"$'\n'
  run -v --service-config "$TMP/sc-rr-health.json" -t "ipv4:$R0,$R1" search --limit 1 q
  expect_rc "round_robin + health checking, r0 back" 0
  if [ "$(replica)" = r0 ]; then ok "r1 NOT_SERVING, r0 back: answered by r0"; else not_ok "r0 back: want r0" "$(context)"; fi
  run -v health
  expect_err_eq "health -v: a health check's trailers (none from the main service)" \
    $'\nResponse headers received:\n(empty)\n\nResponse trailers received:\n(empty)\n\n'"$PEER_LINE"
  run -v -t "$R0" health
  expect_err_has "health -v against r0: its x-aiw-replica trailer" $'Response trailers received:\nx-aiw-replica: r0\n'
  kill "$SERVER2_PID" "$SERVER3_PID" && wait "$SERVER2_PID" "$SERVER3_PID" 2>/dev/null
  SERVER2_PID=
  SERVER3_PID=
else
  not_ok "the replicas r0 and r1 did not start"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
