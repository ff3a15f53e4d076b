#!/bin/bash
# tests/static/run.sh -- `make test-static`: the static aiw and aiw-backend
# (examples/static.mk) need only libc-level libraries, and run in a minimal
# Debian root that has no gRPC: `aiw --version`, real calls (plaintext and
# TLS) against the reference service on the host, aiw-backend serving HTTP
# from inside the root, and a C program linked with
# `pkg-config --static --libs aiw`. Ends with `N passed, M failed`.
#
# Environment (set by examples/static.mk): STATIC_AIW, STATIC_BACKEND (the
# binaries), STATIC_ROOT (the minimal root, made by make_root.sh when
# missing), STATIC_PC_DIR (build/static/pkgconfig: aiw.pc for build/static/
# lib/libaiw.a), AIW_PC_DIR (build/lib/pkgconfig, the in-tree aiw.pc),
# AIW_LIB_A (build/lib/libaiw.a), PYTHON, CC.
# The chroot shares the host's network namespace: the calls go to 127.0.0.1.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
: "${STATIC_AIW:?}" "${STATIC_BACKEND:?}" "${STATIC_ROOT:?}" "${AIW_PC_DIR:?}" "${STATIC_PC_DIR:?}"
PY=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
summary() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aiw-static.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
  [ -n "${ADDED_HOSTS:-}" ] && rm -f "$STATIC_ROOT/etc/hosts"
  rm -f "$STATIC_ROOT"/aiw "$STATIC_ROOT"/aiw-backend "$STATIC_ROOT"/hello-static \
    "$STATIC_ROOT"/hello-full "$STATIC_ROOT"/hello-dynamic "$STATIC_ROOT"/ca.pem \
    "$STATIC_ROOT"/bad-config.json 2>/dev/null
}
trap cleanup EXIT

# Only these may stay dynamic ("libc-level").
LIBC_LEVEL='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|/lib64/ld-linux-x86-64\.so\.2)$'
check_ldd() { # NAME FILE
  local libs others
  libs=$(ldd "$2" 2>&1 | awk '{ print $1 }')
  others=$(grep -vE "$LIBC_LEVEL" <<<"$libs")
  echo "# ldd $2:"; ldd "$2" 2>&1 | sed 's/^/#   /'
  if [ -z "$others" ] && grep -q '^libc\.so\.6$' <<<"$libs"; then
    ok "$1: ldd shows only libc-level libraries ($(grep -v vdso <<<"$libs" | xargs -n1 basename | xargs))"
  else
    bad "$1: ldd shows more than libc-level libraries: $(xargs <<<"$others")"
  fi
}
size_of() { # FILE: its size, and stripped
  strip -o "$TMP/stripped" "$1" && printf '%s bytes (%s MiB), stripped %s bytes (%s MiB)' \
    "$(stat -c %s "$1")" "$(( ($(stat -c %s "$1") + 524288) / 1048576 ))" \
    "$(stat -c %s "$TMP/stripped")" "$(( ($(stat -c %s "$TMP/stripped") + 524288) / 1048576 ))"
}

# ------------------------------------------------------------ the binaries
for b in "$STATIC_AIW" "$STATIC_BACKEND"; do
  [ -x "$b" ] || { bad "$b: not built (make static)"; summary; }
  echo "# $(basename "$b"): $(size_of "$b")"
done
check_ldd "aiw" "$STATIC_AIW"
check_ldd "aiw-backend" "$STATIC_BACKEND"
if ldd "$STATIC_AIW" "$STATIC_BACKEND" | grep -qE 'grpc|absl|protobuf|jansson|ssl|crypto|stdc\+\+|gcc_s'; then
  bad "a gRPC/abseil/protobuf-c/jansson/OpenSSL/C++ library is still dynamic"
else
  ok "no gRPC, abseil, protobuf-c, jansson, OpenSSL, libstdc++ or libgcc_s among the dynamic libraries"
fi

# libaiw.a itself (build/lib, what `make install` installs), through the
# in-tree aiw.pc, linked as below (hello-static: a PIE; -Wl,-Bstatic picks
# libaiw.a over libaiw.so).
static_libs() { # PKG_CONFIG_PATH: pkg-config --static --libs aiw less the libc-level libraries
  PKG_CONFIG_PATH=$1 pkg-config --static --libs aiw | tr ' ' '\n' | grep -vxE -- '-l(m|dl|rt|pthread)|-pthread|' | xargs
}
if [ -n "${AIW_LIB_A:-}" ]; then
  if $CC -std=c11 -O2 -I"$TOP/include" -o "$TMP/hello-lib" tests/static/hello.c \
      -Wl,-Bstatic $(static_libs "$AIW_PC_DIR") -Wl,-Bdynamic -static-libgcc -lm -lpthread >"$TMP/cc-lib.log" 2>&1; then
    ok "$AIW_LIB_A links statically (build/lib's aiw.pc, pkg-config --static)"
  else
    sed 's/^/#   /' "$TMP/cc-lib.log" | tail -n 6
    if grep -q 'DW.ref.__gxx_personality_v0' "$TMP/cc-lib.log"; then
      echo "# $AIW_LIB_A keeps the COMDAT group of DW.ref.__gxx_personality_v0, a local symbol after"
      echo "# objcopy --localize-hidden: lib/lib.mk's \$(LIB_A) rule needs --remove-section=.group (see examples/static.mk)"
    fi
    bad "$AIW_LIB_A links statically (build/lib's aiw.pc, pkg-config --static)"
  fi
fi

# A C program of one's own, linked with `pkg-config --static --libs aiw`:
# - hello-static: libc-level libraries dynamic, the rest from .a, as
#   examples/static.mk links aiw (the recipe in tests/static/README.md);
# - hello-full: `cc -static`, no dynamic library at all;
# - hello-dynamic: the control, plain `pkg-config --libs aiw` (build/lib).
export PKG_CONFIG_PATH=$STATIC_PC_DIR
hello_cflags=$(pkg-config --cflags aiw)
libs=$(static_libs "$STATIC_PC_DIR")
if $CC -std=c11 -O2 -Wall -Werror $hello_cflags -o "$TMP/hello-static" tests/static/hello.c \
  -Wl,-Bstatic $libs -Wl,-Bdynamic -static-libgcc -lm -lpthread >"$TMP/cc.log" 2>&1; then
  ok "C program: links with pkg-config --static --libs aiw (-Wl,-Bstatic ... -Wl,-Bdynamic, libc-level dynamic)"
  check_ldd "C program (pkg-config --static)" "$TMP/hello-static"
else
  sed 's/^/#   /' "$TMP/cc.log" | tail -n 15
  bad "C program: links with pkg-config --static --libs aiw (-Wl,-Bstatic ... -Wl,-Bdynamic, libc-level dynamic)"
fi
if $CC -std=c11 -O2 -Wall -Werror $hello_cflags -o "$TMP/hello-full" tests/static/hello.c \
  -static $(pkg-config --static --libs aiw) >"$TMP/cc-full.log" 2>&1; then
  ok "C program: links with cc -static \$(pkg-config --static --libs aiw)"
  if LC_ALL=C ldd "$TMP/hello-full" 2>&1 | grep -q 'not a dynamic executable'; then
    ok "C program (cc -static): ldd: not a dynamic executable"
  else
    ldd "$TMP/hello-full" 2>&1 | sed 's/^/#   /'; bad "C program (cc -static): ldd: not a dynamic executable"
  fi
else
  grep -v 'statically linked applications requires at runtime' "$TMP/cc-full.log" | sed 's/^/#   /' | tail -n 15
  bad "C program: links with cc -static \$(pkg-config --static --libs aiw)"
fi
export PKG_CONFIG_PATH=$AIW_PC_DIR
if $CC -std=c11 -O2 -Wall -Werror $hello_cflags -o "$TMP/hello-dynamic" tests/static/hello.c \
  $(pkg-config --libs aiw) >"$TMP/cc-dyn.log" 2>&1 && ldd "$TMP/hello-dynamic" | grep -q libgrpc; then
  ok "the control: the same program linked dynamically (pkg-config --libs aiw) needs libgrpc"
else
  sed 's/^/#   /' "$TMP/cc-dyn.log" | tail -n 5
  bad "the control: the same program linked dynamically (pkg-config --libs aiw) needs libgrpc"
fi
unset PKG_CONFIG_PATH

# ------------------------------------------------------- the minimal root
if bash tests/static/make_root.sh "$STATIC_ROOT"; then
  ok "minimal Debian root at $STATIC_ROOT"
else
  bad "minimal Debian root at $STATIC_ROOT (make_root.sh failed)"
  summary
fi
R=$STATIC_ROOT
found=$(find "$R" -xdev \( -name 'libgrpc*' -o -name 'libgpr*' -o -name 'libabsl*' -o -name 'libprotobuf*' \
  -o -name 'libupb*' -o -name 'libcares*' -o -name 'libre2*' -o -name 'libjansson*' -o -name 'libaiw*' \
  -o -name 'libssl*' -o -name 'libcrypto*' \) -print | sed "s|^$R||")
echo "# the root: $(sed -n 1p "$R/etc/debian_version" 2>/dev/null), $(ls "$R/var/lib/dpkg/info" | grep -c '\.list$') packages," \
  "$(ls "$R/usr/lib/x86_64-linux-gnu" | grep -c '\.so') shared objects in /usr/lib/x86_64-linux-gnu"
if [ -z "$found" ] && ! grep -qE '^(libgrpc|libabsl|libprotobuf|libjansson|libssl|libc-ares|libre2)' \
  <(ls "$R/var/lib/dpkg/info"); then
  ok "the root has no gRPC, abseil, protobuf(-c), c-ares, re2, jansson, OpenSSL or libaiw"
else
  bad "the root is not minimal: $(xargs <<<"$found")"
fi
cp "$STATIC_AIW" "$R/aiw" && cp "$STATIC_BACKEND" "$R/aiw-backend" || { bad "copy into $R"; summary; }
for h in hello-static hello-full hello-dynamic; do [ -x "$TMP/$h" ] && cp "$TMP/$h" "$R/$h"; done
# minbase has no /etc/hosts; a container runtime writes one, so does the test
# (and removes it afterwards): `localhost` then resolves without any DNS query.
if [ ! -e "$R/etc/hosts" ]; then
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
  ADDED_HOSTS=1
fi
inroot() { chroot "$R" "$@"; }
INROOT=(chroot "$R")

out=$(inroot /usr/bin/ldd /aiw 2>&1; inroot /usr/bin/ldd /aiw-backend 2>&1)
if [ -n "$out" ] && ! grep -q 'not found' <<<"$out"; then
  ok "inside the root, ldd finds every library of aiw and aiw-backend"
else
  sed 's/^/#   /' <<<"$out"; bad "inside the root, ldd finds every library of aiw and aiw-backend"
fi
out=$(inroot /aiw --version 2>&1); rc=$?
echo "# chroot: /aiw --version: $(xargs <<<"$out")"
if [ $rc -eq 0 ] && grep -q '^libaiw .*gRPC core' <<<"$out"; then
  ok "aiw --version in the root"
else
  bad "aiw --version in the root (exit $rc): $out"
fi
out=$(inroot /aiw-backend -h 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q -- '-ai-target' <<<"$out"; then
  ok "aiw-backend -h in the root"
else
  bad "aiw-backend -h in the root (exit $rc): $(head -n 3 <<<"$out")"
fi
if [ -x "$R/hello-dynamic" ]; then
  out=$(inroot /hello-dynamic 127.0.0.1:1 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -qE 'error while loading shared libraries: lib(aiw|grpc)' <<<"$out"; then
    ok "the control: the dynamically linked program does not start in the root ($(xargs <<<"$out" | cut -c1-120))"
  else
    bad "the control: the dynamically linked program does not start in the root (exit $rc): $out"
  fi
fi

# ------------------------------------------------- calls from inside the root
wait_for() { # FILE REGEX SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
"$PY" tests/refservice/ai_worker_server.py --port 0 >"$TMP/ref.out" 2>"$TMP/ref.err" &
PIDS+=($!)
if ! wait_for "$TMP/ref.out" '^LISTENING [0-9]+' 60; then
  cat "$TMP/ref.err"; bad "the reference service did not start"; summary
fi
PORT=$(awk '/^LISTENING/ { print $2; exit }' "$TMP/ref.out")
T=127.0.0.1:$PORT
echo "# reference service on $T (host); calls from inside the root"

expect_call() { # NAME GREP-REGEX COMMAND...
  local name=$1 re=$2 out rc
  shift 2
  out=$(timeout 60 "$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] && grep -qE -- "$re" <<<"$out"; then
    ok "$name"
  else
    echo "#   exit $rc: $(head -c 400 <<<"$out")"; bad "$name"
  fi
}
expect_call "aiw embed (GetEmbedding) in the root" '^\{"semanticVector":\[-?[0-9]' \
  "${INROOT[@]}" /aiw --target "$T" --json embed hi
expect_call "aiw health in the root" '^SERVING$' "${INROOT[@]}" /aiw --target "$T" health
expect_call "aiw search (VectorSearch) in the root" '"results":\[' \
  "${INROOT[@]}" /aiw --target "$T" --json search sunset
expect_call "aiw chat (server streaming) in the root" '^\{"chunk":' \
  "${INROOT[@]}" /aiw --target "$T" --json chat hello
echo '{"methodConfig":[{"name":[{}],"timeout":"bad"}]}' > "$R/bad-config.json"
out=$(inroot /aiw --target "$T" --service-config /bad-config.json health 2>&1); rc=$?
if [ $rc -eq 64 ] && grep -q 'Not a duration' <<<"$out"; then
  ok "aiw --service-config in the root: grpc++'s validator (static C++) refuses a bad config"
else
  bad "aiw --service-config in the root (exit $rc): $out"
fi
if [ -x "$R/hello-static" ]; then
  expect_call "C program (pkg-config --static, libc dynamic) in the root: health" '^health: SERVING' \
    "${INROOT[@]}" /hello-static "$T"
fi
if [ -x "$R/hello-full" ]; then
  expect_call "C program (cc -static) in the root: health" '^health: SERVING' "${INROOT[@]}" /hello-full "$T"
fi

# TLS (static OpenSSL), and a name resolved inside the root (c-ares, /etc/hosts).
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/ca.key" \
    -out "$TMP/ca.pem" -days 2 -subj /CN=aiw-static-ca 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/server.key" \
    -out "$TMP/server.csr" -subj /CN=localhost 2>/dev/null &&
  openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
    -out "$TMP/server.pem" -days 2 -extfile <(echo 'subjectAltName=DNS:localhost,IP:127.0.0.1') 2>/dev/null; then
  "$PY" tests/cli/tls_server.py --cert "$TMP/server.pem" --key "$TMP/server.key" >"$TMP/tls.out" 2>"$TMP/tls.err" &
  PIDS+=($!)
  if wait_for "$TMP/tls.out" '^LISTENING [0-9]+' 60; then
    TLS_PORT=$(awk '/^LISTENING/ { print $2; exit }' "$TMP/tls.out")
    cp "$TMP/ca.pem" "$R/ca.pem"
    expect_call "aiw over TLS in the root (--ca)" '"totalCount":7' \
      "${INROOT[@]}" /aiw --ca /ca.pem -t "127.0.0.1:$TLS_PORT" --json search q
    expect_call "aiw over TLS in the root, target localhost (resolved in the root)" '"totalCount":7' \
      "${INROOT[@]}" /aiw --ca /ca.pem -t "localhost:$TLS_PORT" --json search q
  else
    cat "$TMP/tls.err"; bad "the TLS server did not start"
  fi
else
  bad "openssl could not make the test certificates"
fi

# aiw-backend serving HTTP from inside the root; curl from the host.
HTTP_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot "$R" /aiw-backend -listen "127.0.0.1:$HTTP_PORT" -ai-target "$T" >"$TMP/backend.out" 2>&1 &
BPID=$!
PIDS+=($BPID)
H=http://127.0.0.1:$HTTP_PORT
up=
for ((i = 0; i < 300; i++)); do
  curl -s -o /dev/null "$H/api/v1/ai/health" && { up=1; break; }
  kill -0 $BPID 2>/dev/null || break
  sleep 0.1
done
if [ -n "$up" ]; then
  ok "aiw-backend in the root listens on $H"
  expect_call "HTTP GET /api/v1/ai/health (aiw-backend in the root)" '"serving_status":"SERVING"' \
    curl -sS --fail-with-body "$H/api/v1/ai/health"
  expect_call "HTTP POST /api/v1/ai/search (aiw-backend in the root)" '"results":\[' \
    curl -sS --fail-with-body -XPOST "$H/api/v1/ai/search" -d '{"query":"sunset","type":"visual","limit":2}'
  expect_call "HTTP POST /api/v1/ai/chat, SSE (aiw-backend in the root)" '^data:' \
    curl -sSN --fail-with-body --max-time 30 -XPOST "$H/api/v1/ai/chat" -d '{"query":"hello"}'
  expect_call "HTTP GET / (aiw-backend in the root)" '<html' curl -sS --fail-with-body "$H/"
else
  sed 's/^/#   /' "$TMP/backend.out" | tail -n 10
  bad "aiw-backend in the root listens on $H"
fi
kill $BPID 2>/dev/null; wait $BPID 2>/dev/null
if ! grep -qiE 'panic|fatal|SIGSEGV' "$TMP/backend.out"; then
  ok "aiw-backend in the root logged no panic or fatal error"
else
  sed 's/^/#   /' "$TMP/backend.out" | tail -n 10; bad "aiw-backend in the root logged no panic or fatal error"
fi


# ---------------------------------------------- FROM scratch, libc only
# What the Dockerfile in tests/static/README.md builds: the binaries, the
# dynamic loader, libc.so.6 and libm.so.6, nothing else (no /etc, no /dev).
# And the fully static C program alone in an empty root.
S=$TMP/scratch
mkdir -p "$S/lib64" "$S/lib/x86_64-linux-gnu" "$S/tmp" "$TMP/empty"
cp -L /lib64/ld-linux-x86-64.so.2 "$S/lib64/" &&
  cp -L /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libm.so.6 "$S/lib/x86_64-linux-gnu/" &&
  cp "$STATIC_AIW" "$STATIC_BACKEND" "$S/"
echo "# scratch root: $(cd "$S" && find . -type f | sort | xargs)"
expect_call "libc-only root: aiw --version" '^libaiw ' chroot "$S" /aiw --version
expect_call "libc-only root: aiw embed" '^\{"semanticVector":\[-?[0-9]' chroot "$S" /aiw --target "$T" --json embed hi
HTTP_PORT2=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot "$S" /aiw-backend -listen "127.0.0.1:$HTTP_PORT2" -ai-target "$T" >"$TMP/backend2.out" 2>&1 &
BPID=$!
PIDS+=($BPID)
for ((i = 0; i < 300; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT2/api/v1/ai/health" && break
  kill -0 $BPID 2>/dev/null || break
  sleep 0.1
done
expect_call "libc-only root: aiw-backend answers GET /api/v1/ai/health" '"serving_status":"SERVING"' \
  curl -sS --fail-with-body "http://127.0.0.1:$HTTP_PORT2/api/v1/ai/health"
kill $BPID 2>/dev/null; wait $BPID 2>/dev/null
if [ -x "$TMP/hello-full" ]; then
  cp "$TMP/hello-full" "$TMP/empty/"
  expect_call "empty root (one file): the cc -static C program: health" '^health: SERVING' \
    chroot "$TMP/empty" /hello-full "$T"
fi

summary
