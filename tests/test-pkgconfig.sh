#!/bin/sh
# Builds tests/pkgconfig/gossip-hello.c out of tree against an installed
# libgossip, using nothing but `pkg-config --cflags --libs gossip-1.0` (TAP).
#
# The library, its headers and gossip-1.0.pc are installed with
# `make install DESTDIR=<tmp>` (gossip/ and the .pc of data/); the installed
# .pc is copied with its directories moved under <tmp> (only prefix,
# exec_prefix, libdir and includedir lines that hold absolute paths change).
# With --installed, the system's gossip-1.0.pc is used as it is (for the
# packaging test, after the packages were installed).
#
# Environment (set by tests/Makefile.am): G_TEST_SRCDIR, G_TEST_BUILDDIR,
# CC, PKG_CONFIG, MAKE, libdir, includedir, VERSION, SAN_CFLAGS, SAN_LDFLAGS.
set -u

srcdir=${G_TEST_SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
builddir=${G_TEST_BUILDDIR:-$srcdir}
top_builddir=$builddir/..
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
MAKE=${MAKE:-make}
SAN_CFLAGS=${SAN_CFLAGS:-}
SAN_LDFLAGS=${SAN_LDFLAGS:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-pkgconfig.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "$tmp/log" ] && sed 's/^/#   /' "$tmp/log"; }
bail () { echo "Bail out! $1"; [ -f "$tmp/log" ] && sed 's/^/#   /' "$tmp/log"; exit 1; }

echo "1..6"

if [ "${1:-}" = "--installed" ]; then
  run_env=""
  stage=""
  ok "using the installed gossip-1.0.pc ($($PKG_CONFIG --variable=pcfiledir gossip-1.0 2>/dev/null))"
else
  # shellcheck disable=SC2154
  : "${libdir:?} ${includedir:?}"
  stage=$tmp/root
  # A nested make must not use the jobserver of the make running the tests.
  if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -s -C "$top_builddir/gossip" install DESTDIR="$stage" >"$tmp/log" 2>&1 &&
     env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -s -C "$top_builddir/data" install-pkgconfigDATA DESTDIR="$stage" >>"$tmp/log" 2>&1; then
    ok "make install DESTDIR=<tmp> of gossip/ and gossip-1.0.pc"
  else
    bail "staged install failed"
  fi
  pcdir=$tmp/pkgconfig
  mkdir -p "$pcdir"
  [ -f "$stage$libdir/pkgconfig/gossip-1.0.pc" ] || bail "gossip-1.0.pc not installed in $libdir/pkgconfig"
  sed -E "s#^(prefix|exec_prefix|libdir|includedir)=/#\\1=$stage/#" \
    "$stage$libdir/pkgconfig/gossip-1.0.pc" > "$pcdir/gossip-1.0.pc"
  PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export PKG_CONFIG_PATH
  run_env="LD_LIBRARY_PATH=$stage$libdir"
fi

# 2. metadata
version=$($PKG_CONFIG --modversion gossip-1.0 2>"$tmp/log")
if [ -n "$version" ] && { [ -z "${VERSION:-}" ] || [ "$version" = "$VERSION" ]; }; then
  ok "pkg-config --modversion gossip-1.0 = $version"
else
  not_ok "pkg-config --modversion gossip-1.0 (got '$version', want '${VERSION:-}')"
fi

# 3. headers: exactly gossip.h and what it includes, no private header
if [ -z "$stage" ]; then
  hdrdir=$($PKG_CONFIG --variable=includedir gossip-1.0)/gossip-1.0/gossip
else
  hdrdir=$stage$includedir/gossip-1.0/gossip
fi
(cd "$hdrdir" 2>/dev/null && ls) > "$tmp/installed-headers"
{ echo gossip.h; sed -n 's|^#include <gossip/\(gossip-[a-z0-9-]*\.h\)>.*|\1|p' "$hdrdir/gossip.h" 2>/dev/null; } |
  LC_ALL=C sort > "$tmp/wanted-headers"
LC_ALL=C sort -o "$tmp/installed-headers" "$tmp/installed-headers"
if [ -s "$tmp/wanted-headers" ] && cmp -s "$tmp/installed-headers" "$tmp/wanted-headers"; then
  ok "installed headers are gossip.h and the $(($(wc -l < "$tmp/wanted-headers") - 1)) headers it includes"
else
  diff "$tmp/wanted-headers" "$tmp/installed-headers" > "$tmp/log" 2>&1
  not_ok "installed headers in $hdrdir differ from gossip.h's includes"
fi

# 4. build and run the out-of-tree program
# shellcheck disable=SC2086
if cflags=$($PKG_CONFIG --cflags gossip-1.0 2>"$tmp/log") && libs=$($PKG_CONFIG --libs gossip-1.0 2>"$tmp/log") &&
   $CC -std=c11 -Wall -Werror $SAN_CFLAGS $cflags -o "$tmp/gossip-hello" "$srcdir/pkgconfig/gossip-hello.c" \
      $SAN_LDFLAGS $libs >> "$tmp/log" 2>&1; then
  ok "cc \$(pkg-config --cflags gossip-1.0) gossip-hello.c \$(pkg-config --libs gossip-1.0)"
else
  not_ok "building gossip-hello.c against the installed library"
fi

# shellcheck disable=SC2086
if [ -x "$tmp/gossip-hello" ] && env $run_env "$tmp/gossip-hello" > "$tmp/log" 2>&1; then
  ok "gossip-hello runs: $(head -n 1 "$tmp/log")"
else
  not_ok "gossip-hello runs against the installed library"
fi

# 5. a private helper is not reachable
# shellcheck disable=SC2086
if $CC -std=c11 $SAN_CFLAGS $cflags -o "$tmp/gossip-private" "$srcdir/pkgconfig/gossip-private.c" \
      $SAN_LDFLAGS $libs > "$tmp/log" 2>&1; then
  not_ok "a program calling the private gossip_uuid_generate_v7() links (it must not)"
elif grep -q "undefined reference to .gossip_uuid_generate_v7" "$tmp/log"; then
  ok "private helpers are not exported (gossip_uuid_generate_v7 is an undefined reference)"
else
  not_ok "gossip-private.c failed for another reason than the missing private symbol"
fi

exit "$failed"
