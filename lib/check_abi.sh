#!/usr/bin/env bash
# check_abi.sh LIB SYMBOLS -- the ABI gate: prints `N passed, M failed`.
# 1. every dynamic symbol LIB exports is aiw_* and listed in SYMBOLS;
# 2. every symbol in SYMBOLS is exported (none was dropped);
# 3. the SONAME is libaiw.so.1;
# 4. every aiw_ function declared in include/aiw.h is exported.
set -u
lib=$1 symbols=$2
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
listed=$(grep -v '^#' "$symbols" | awk 'NF {print $1}' | sort -u)
declared=$(grep -oE '\baiw_[a-z0-9_]+\(' include/aiw.h | tr -d '(' | sort -u)

stray=$(comm -23 <(echo "$exported") <(echo "$listed"))
[ -z "$stray" ] && ok "no symbol exported outside lib/symbols.txt" || bad "exported but not listed: $stray"
nonaiw=$(echo "$exported" | grep -v '^aiw_' || true)
[ -z "$nonaiw" ] && ok "only aiw_* symbols exported" || bad "non-aiw exports: $nonaiw"
missing=$(comm -13 <(echo "$exported") <(echo "$listed"))
[ -z "$missing" ] && ok "every listed symbol is exported" || bad "listed but not exported: $missing"
undeclared=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$undeclared" ] && ok "every function of aiw.h is exported" || bad "declared but not exported: $undeclared"
# 5. each symbol carries the version node of the release it appeared in
#    (symbols.txt's "since" 1.1.0 -> node AIW_1.1), so a program linked
#    against a newer symbol is refused by an older library at load time.
wrong_node=$(join <(grep -v '^#' "$symbols" | awk 'NF {split($2, v, "."); print $1, "AIW_" v[1] "." v[2]}' | sort) \
  <(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {n = split($3, p, "@"); print p[1], p[n]}' | sort) |
  awk '$2 != $3 {print $1 " (" $3 ", listed " $2 ")"}')
[ -z "$wrong_node" ] && ok "every symbol is in the version node of its release" || bad "wrong version node: $wrong_node"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libaiw.so.1 ] && ok "SONAME is $soname" || bad "SONAME is '$soname', want libaiw.so.1"
static_stray=$(nm -g --defined-only "$(dirname "$lib")/libaiw.a" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^aiw_' || true)
[ -z "$static_stray" ] && ok "libaiw.a defines only aiw_* globals" || bad "libaiw.a leaks: $static_stray"
# 6. abidiff against the recorded baseline: types and signatures unchanged.
if command -v abidw >/dev/null && command -v abidiff >/dev/null; then
  cur=$(mktemp)
  # --drop-private-types: the opaque types' insides (defined in lib/, not in
  # include/) are not ABI; without it every change to one is reported.
  abidw --headers-dir include --drop-private-types --no-corpus-path --drop-undefined-syms "$lib" > "$cur"
  if out=$(abidiff lib/abi/libaiw.so.1.abi "$cur" 2>&1); then
    ok "abidiff: ABI identical to lib/abi/libaiw.so.1.abi"
  else
    # abidiff exit bits: 4 = ABI change (additions), 8 = incompatible change.
    if [ $(( $? & 8 )) -ne 0 ]; then bad "abidiff: incompatible ABI change:"; echo "$out"
    else ok "abidiff: compatible additions only (record them: make abi-baseline)"; echo "$out"; fi
  fi
  rm -f "$cur"
else
  bad "abidiff not installed (abigail-tools)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
