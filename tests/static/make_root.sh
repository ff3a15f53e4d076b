#!/bin/bash
# tests/static/make_root.sh ROOT -- a minimal Debian (debootstrap
# --variant=minbase) at ROOT, made once: a finished root has ROOT/.aiw-root-ok
# and is reused as it is. Needs root and debootstrap (`make deps`).
#
# The mirror is the one apt uses (/etc/apt/sources.list.d/debian.sources or
# /etc/apt/sources.list), or $AIW_DEBIAN_MIRROR; the suite $AIW_DEBIAN_SUITE
# (default bookworm). An unreachable mirror is an error, not a skip.
set -u
ROOT=${1:?usage: make_root.sh ROOT}
SUITE=${AIW_DEBIAN_SUITE:-bookworm}
STAMP=$ROOT/.aiw-root-ok
die() { echo "make_root: $*" >&2; exit 1; }

if [ -f "$STAMP" ]; then
  echo "make_root: reusing $ROOT ($(cat "$STAMP"))"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap and chroot need root (run as root)"
command -v debootstrap >/dev/null || die "no debootstrap: apt-get install debootstrap (make deps installs it)"

# The first deb822 stanza (or one-line entry) that serves $SUITE.
mirror=${AIW_DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk -v suite="$SUITE" '
    /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
    /^URIs:/   { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
    END { if (uri != "" && ok) print uri }' /etc/apt/sources.list.d/debian.sources | head -n 1)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  mirror=$(awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || die "no Debian mirror for $SUITE in apt's sources (/etc/apt/sources.list.d/debian.sources, /etc/apt/sources.list): set AIW_DEBIAN_MIRROR"

# A root left half made (interrupted debootstrap): unmount what it may have
# left mounted, then remove it without crossing into any mount point.
partial=$ROOT.partial
for d in "$partial" "$ROOT"; do
  [ -e "$d" ] || continue
  awk '{ print $2 }' /proc/self/mounts | grep -E "^$(realpath -m "$d")(/|$)" | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  if awk '{ print $2 }' /proc/self/mounts | grep -qE "^$(realpath -m "$d")(/|$)"; then
    die "$d still has mounts under it; unmount them and remove it by hand"
  fi
  echo "make_root: removing the unfinished $d"
  rm -rf --one-file-system "$d" || die "cannot remove $d"
done

echo "make_root: checking $mirror/dists/$SUITE/Release"
if ! timeout 60 wget -q -t 2 -T 20 -O /dev/null "$mirror/dists/$SUITE/Release"; then
  die "the Debian mirror $mirror is unreachable (no $SUITE Release file): cannot make the minimal root $ROOT. Set AIW_DEBIAN_MIRROR to a reachable mirror, or put a minbase root (with an empty $STAMP) there yourself."
fi

log=$ROOT.log
mkdir -p "$(dirname "$ROOT")"
echo "make_root: debootstrap --variant=minbase $SUITE $ROOT $mirror (a few minutes, once; log: $log)"
start=$SECONDS
if ! timeout 1200 debootstrap --variant=minbase "$SUITE" "$partial" "$mirror" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  die "debootstrap failed (log: $log)"
fi
mv "$partial" "$ROOT" || die "cannot move $partial to $ROOT"
echo "debootstrap --variant=minbase $SUITE $mirror, $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$STAMP"
echo "make_root: made $ROOT in $((SECONDS - start)) s ($(du -sh --one-file-system "$ROOT" | cut -f1))"
