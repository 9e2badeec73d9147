#!/bin/sh
# run-fuzz.sh — build and run the libFuzzer targets of the codec layer.
#
# Usage: tests/fuzz/run-fuzz.sh [-b] [-g] [-j JOBS] [SECONDS] [TARGET...]
#
#   SECONDS   run time per target (default 30)
#   TARGET    frame, payload, snappy, reader, state (default: all)
#   -b        build only, do not run
#   -g        regenerate the seed corpora in tests/fuzz/corpus/ and exit
#   -j JOBS   targets run in parallel (default 1)
#
# Targets are built straight from the library sources with clang
# -fsanitize=fuzzer,address,undefined, without configure or automake.
# Build products, the growing working corpora and crash artifacts live in
# $FUZZ_BUILD_DIR (default ${TMPDIR:-/tmp}/gossip-fuzz); the committed seeds
# in tests/fuzz/corpus/ are only read. A crash leaves its input in
# $FUZZ_BUILD_DIR/artifacts/TARGET/; copy it to tests/fuzz/regressions/TARGET/
# once fixed so that test-fuzz-replay keeps checking it.
#
# Needs clang with its runtime (Debian: clang-14, which ships libFuzzer).
#
# SPDX-License-Identifier: MIT
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-${TMPDIR:-/tmp}/gossip-fuzz}
CC=${CC:-clang}
all_targets="frame payload snappy reader state"

build_only=no
gen_corpus=no
jobs=1
while getopts bgj: opt; do
  case $opt in
    b) build_only=yes ;;
    g) gen_corpus=yes ;;
    j) jobs=$OPTARG ;;
    *) sed -n '3,12p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

seconds=30
case ${1:-} in
  ''|*[!0-9]*) ;;
  *) seconds=$1; shift ;;
esac
targets=${*:-$all_targets}

pkgs="glib-2.0 json-glib-1.0 libcrypto snappy"
lib_sources="gossip-error.c gossip-buffer.c gossip-crypto.c gossip-crypto-openssl.c gossip-compress.c gossip-frame.c gossip-payload.c gossip-packet.c gossip-node.c gossip-uuid.c"

mkdir -p "$build"
# The library sources include config.h first: what configure and the
# library's Makefile.am would define for them.
cat > "$build/config.h" <<'EOF'
#define GETTEXT_PACKAGE "scriptling-gossip"
#define G_LOG_DOMAIN "Gossip"
#define LOCALEDIR "/usr/share/locale"
EOF

# shellcheck disable=SC2086 # $pkgs is a list
common_cflags="-g -O1 -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Wno-unused-parameter
  -I$build -I$top -I$top/gossip -DGOSSIP_COMPILATION -DGOSSIP_CRYPTO_BUILTIN $(pkg-config --cflags $pkgs)"
# shellcheck disable=SC2086
libs="$(pkg-config --libs $pkgs) -lm"
srcs=""
for s in $lib_sources; do srcs="$srcs $top/gossip/$s"; done

if [ "$gen_corpus" = yes ]; then
  echo "building gen-corpus"
  # shellcheck disable=SC2086
  $CC $common_cflags -o "$build/gen-corpus" "$here/gen-corpus.c" $srcs $libs
  rm -rf "$here/corpus"
  "$build/gen-corpus" "$here/corpus"
  for t in $all_targets; do
    echo "corpus/$t: $(find "$here/corpus/$t" -type f | wc -l) seeds"
  done
  exit 0
fi

san_cflags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
for t in $targets; do
  echo "building fuzz-$t"
  # shellcheck disable=SC2086
  $CC $common_cflags $san_cflags -o "$build/fuzz-$t" "$here/fuzz-$t.c" $srcs $libs
done
[ "$build_only" = yes ] && exit 0

run_one() {
  t=$1
  rm -rf "$build/artifacts/$t"
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  seeds="$here/corpus/$t"
  [ -d "$here/regressions/$t" ] && seeds="$seeds $here/regressions/$t"
  rc=0
  # New inputs go to the first (working) directory, never into the tree.
  # G_SLICE: let ASan see every GVariant allocation.
  # shellcheck disable=SC2086
  G_SLICE=always-malloc \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
      "$build/corpus/$t" $seeds > "$build/fuzz-$t.log" 2>&1 || rc=$?
  echo "$rc" > "$build/fuzz-$t.rc"
}

# Batches of $jobs targets at a time.
running=0
for t in $targets; do
  echo "running fuzz-$t for ${seconds}s (log: $build/fuzz-$t.log)"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait

status=0
printf '\n%-8s %12s %10s %8s  %s\n' target execs exec/s corpus result
for t in $targets; do
  log="$build/fuzz-$t.log"
  rc=$(cat "$build/fuzz-$t.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  crashes=$(find "$build/artifacts/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc, $crashes artifacts in $build/artifacts/$t)"
    status=1
  fi
  printf '%-8s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
exit $status
