#!/bin/sh
# Checks that libgossip exports exactly its public API (TAP output).
#
#   1. the symbols the built libgossip-1.0.so exports (nm -D --defined-only)
#      are exactly those listed in gossip/libgossip-1.0.sym;
#   2. gossip/libgossip-1.0.sym lists exactly the functions declared in the
#      public headers (gossip/gossip.h and every header it includes), so a new
#      public function cannot be forgotten and a private helper cannot leak;
#   3. the Debian symbols file (data/debian/libgossip-1.0-0.symbols) names the
#      same symbols.
#
# After changing the public API, regenerate the list with
#   tests/test-symbols.sh --print-header-symbols > gossip/libgossip-1.0.sym
# and add the new symbols to data/debian/libgossip-1.0-0.symbols with the
# version that introduced them.
#
# Environment: G_TEST_SRCDIR, G_TEST_BUILDDIR (tests/ of the source and build
# trees, set by make check), NM (default nm).
set -u

srcdir=${G_TEST_SRCDIR:-$(dirname "$0")}
builddir=${G_TEST_BUILDDIR:-$srcdir}
top_srcdir=$srcdir/..
top_builddir=$builddir/..
NM=${NM:-nm}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-symbols.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# Functions declared in the public headers: gossip.h and what it includes.
# Comments and #define bodies are ignored; G_DECLARE_* macros declare
# <prefix>_get_type().
header_symbols () {
  hdrs="$top_srcdir/gossip/gossip.h"
  for h in $(sed -n 's|^#include <gossip/\(gossip-[a-z0-9-]*\.h\)>.*|\1|p' "$top_srcdir/gossip/gossip.h"); do
    hdrs="$hdrs $top_srcdir/gossip/$h"
  done
  # shellcheck disable=SC2086
  cat $hdrs | perl -0777 -ne '
    s{/\*.*?\*/}{}gs;            # block comments
    s{//[^\n]*}{}g;              # line comments
    s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}gm;   # preprocessor lines (with continuations)
    my %s;
    $s{$1} = 1 while /\b(gossip_[a-z0-9_]+)\s*\(/g;
    $s{"$1_get_type"} = 1 while /G_DECLARE_[A-Z_]+\s*\(\s*\w+\s*,\s*(gossip_[a-z0-9_]+)/g;
    print "$_\n" for sort keys %s;'
}

if [ "${1:-}" = "--print-header-symbols" ]; then
  header_symbols | LC_ALL=C sort
  exit 0
fi

symfile=$top_srcdir/gossip/libgossip-1.0.sym
debsyms=$top_srcdir/data/debian/libgossip-1.0-0.symbols
so=$top_builddir/gossip/.libs/libgossip-1.0.so

echo "1..3"

# 1. exported == committed list
if [ ! -e "$so" ]; then
  echo "not ok 1 - exported symbols match gossip/libgossip-1.0.sym # $so not built"
  status=1
else
  $NM -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | LC_ALL=C sort -u > "$tmp/exported"
  grep -v '^[[:space:]]*$' "$symfile" | LC_ALL=C sort -u > "$tmp/listed"
  if cmp -s "$tmp/exported" "$tmp/listed"; then
    echo "ok 1 - libgossip-1.0.so exports exactly the $(wc -l < "$tmp/listed") symbols of gossip/libgossip-1.0.sym"
  else
    echo "not ok 1 - exported symbols differ from gossip/libgossip-1.0.sym"
    LC_ALL=C comm -23 "$tmp/exported" "$tmp/listed" | sed 's/^/#   exported but not listed: /'
    LC_ALL=C comm -13 "$tmp/exported" "$tmp/listed" | sed 's/^/#   listed but not exported: /'
    status=1
  fi
fi

# 2. committed list == public header declarations
header_symbols | LC_ALL=C sort -u > "$tmp/declared"
grep -v '^[[:space:]]*$' "$symfile" | LC_ALL=C sort -u > "$tmp/listed"
if cmp -s "$tmp/declared" "$tmp/listed"; then
  echo "ok 2 - gossip/libgossip-1.0.sym lists exactly the functions of the public headers"
else
  echo "not ok 2 - gossip/libgossip-1.0.sym differs from the public headers"
  LC_ALL=C comm -23 "$tmp/declared" "$tmp/listed" | sed 's/^/#   declared in a public header but not listed: /'
  LC_ALL=C comm -13 "$tmp/declared" "$tmp/listed" | sed 's/^/#   listed but not declared in a public header: /'
  echo "#   regenerate: tests/test-symbols.sh --print-header-symbols > gossip/libgossip-1.0.sym"
  status=1
fi

# 3. Debian symbols file == committed list
if [ ! -f "$debsyms" ]; then
  echo "not ok 3 - $debsyms is missing"
  status=1
else
  sed -n 's/^ \([A-Za-z_][A-Za-z0-9_]*\)@Base .*/\1/p' "$debsyms" | LC_ALL=C sort -u > "$tmp/debian"
  if cmp -s "$tmp/debian" "$tmp/listed"; then
    echo "ok 3 - data/debian/libgossip-1.0-0.symbols names the same symbols"
  else
    echo "not ok 3 - data/debian/libgossip-1.0-0.symbols differs from gossip/libgossip-1.0.sym"
    LC_ALL=C comm -23 "$tmp/listed" "$tmp/debian" | sed 's/^/#   missing from the Debian symbols file: /'
    LC_ALL=C comm -13 "$tmp/listed" "$tmp/debian" | sed 's/^/#   only in the Debian symbols file: /'
    status=1
  fi
fi

exit "${status:-0}"
