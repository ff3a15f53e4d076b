#!/bin/bash
# examples/aiw/demo.sh -- `make demo`: starts the reference AI service on a
# free port, runs one of each command against it with build/bin/aiw (the chat
# streams visibly), and stops the service on the way out, whatever happened.
# Exit status: 0 when every step succeeded, else 1.
set -u
cd "$(dirname "$0")/../.."
AIW=${AIW:-build/bin/aiw}
PY=${PYTHON:-/usr/bin/python3}

workdir=$(mktemp -d "${TMPDIR:-/tmp}/aiw-demo.XXXXXX")
server_pid=
stop_service() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    echo "== reference service stopped"
  fi
  rm -rf "$workdir"
}
trap stop_service EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The service prints `LISTENING <port>` once it accepts calls: read that line
# from a FIFO (blocking until it comes, or until the service dies).
mkfifo "$workdir/ready"
"$PY" tests/refservice/ai_worker_server.py --port 0 >"$workdir/ready" 2>"$workdir/service.err" &
server_pid=$!
port=
if read -r -t 60 word port <"$workdir/ready" && [ "$word" = LISTENING ]; then
  :
else
  echo "demo: the reference service did not start:" >&2
  cat "$workdir/service.err" >&2
  exit 1
fi
export AIW_TARGET=127.0.0.1:$port
echo "== reference service listening on $AIW_TARGET"

failed=0
step() {
  echo
  echo "\$ aiw $*"
  "$AIW" "$@"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "demo: step failed with exit status $rc: aiw $*" >&2
    failed=1
  fi
}

step --version
step embed --type both "a sunset over the harbour"
step search --type visual --threshold 0.8 --filter image/ "sunset"
step process --asset-id img-002 --path photos/img-002.jpg --mime image/jpeg --caption --embed
step chat --images "!slow:250"
step --json chat --history "user:what did we discuss?@1700000000" "summarise the meeting notes"

echo
if [ "$failed" -eq 0 ]; then echo "== demo: every step succeeded"; else echo "== demo: some steps FAILED" >&2; fi
exit "$failed"
