#!/bin/sh
# Installs the scriptling-gossip .debs into a throwaway root and runs the
# smoke test (data/packaging/smoke-test.sh) from the installed paths, then
# purges them again (TAP on stdout).
#
# The throwaway root is an overlay of / in a private mount namespace: dpkg
# installs into it with the real dependency checks, the packages' files live
# only in a temporary upper layer, and everything vanishes when the test
# ends; the machine itself is never changed. The smoke test runs chrooted in
# it with a clean environment and a copy of the few test sources it needs,
# so nothing from a build tree can be used.
#
# Usage: test-install.sh DIR-WITH-DEBS   (as root; needs unshare and overlayfs)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

if [ "${1:-}" = "--inside" ]; then
  debdir=$2 root=$3 work=$4
  # We are in a private mount namespace: build the throwaway root.
  mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/tmp"
  mount -t tmpfs tmpfs "$root/run"
  mkdir -p "$root/run/lock"

  # The test sources (not the build tree) go in /tmp/smoke of the root.
  mkdir -p "$root/tmp/smoke/data/packaging" "$root/tmp/smoke/tests/pkgconfig" "$root/tmp/debs"
  cp "$here/smoke-test.sh" "$root/tmp/smoke/data/packaging/"
  cp "$top/tests/test-pkgconfig.sh" "$top/tests/test-gi.py" "$root/tmp/smoke/tests/"
  cp "$top/tests/pkgconfig/"*.c "$root/tmp/smoke/tests/pkgconfig/"
  cp "$debdir"/*.deb "$root/tmp/debs/"

  in_root () { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

  packages=$(for deb in "$debdir"/*.deb; do dpkg-deb -f "$deb" Package; done | tr '\n' ' ')
  # Start from a root where none of them is installed.
  in_root dpkg --purge $packages > "$work/purge0.log" 2>&1 || true

  if in_root sh -c 'dpkg -i /tmp/debs/*.deb' > "$work/dpkg.log" 2>&1; then
    echo "ok 1 - dpkg -i $packages"
  else
    echo "not ok 1 - dpkg -i of the packages"
    sed 's/^/#   /' "$work/dpkg.log"
    exit 1
  fi
  # Installed files (not directories, not debug symbols) for the log.
  in_root dpkg -L $packages 2>/dev/null | grep -v -E '^/usr/(lib/debug|share/doc|share/gtk-doc)(/|$)|^/\.$' |
    LC_ALL=C sort -u | awk 'NR > 1 && index($0, prev "/") != 1 { print prev } { prev = $0 } END { print prev }' \
    > "$work/files"

  # The smoke test prints its own plan; renumber its lines after ours.
  in_root sh /tmp/smoke/data/packaging/smoke-test.sh /tmp/smoke > "$work/smoke.log" 2>&1 && smoke=0 || smoke=$?
  awk '/^(not )?ok [0-9]+/ { n = $0; sub(/^(not )?ok [0-9]+/, "", n);
                              print ($1 == "not" ? "not ok " : "ok ") ($1 == "not" ? $3 : $2) + 1 n; next }
       /^1\.\.[0-9]+/ { next }
       { print }' "$work/smoke.log"
  nsmoke=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$work/smoke.log")
  nsmoke=${nsmoke:-0}

  if in_root dpkg --purge $packages > "$work/purge.log" 2>&1 &&
     ! in_root sh -c 'ls /usr/lib/scriptling/plugins/gossip /usr/share/scriptling/lib/scriptling/net/gossip.py /usr/bin/gossip-agent /usr/include/gossip-1.0' >/dev/null 2>&1; then
    echo "ok $((nsmoke + 2)) - dpkg --purge removes every package and its files"
  else
    echo "not ok $((nsmoke + 2)) - dpkg --purge"
    sed 's/^/#   /' "$work/purge.log"
    smoke=1
  fi
  echo "1..$((nsmoke + 2))"
  echo "# installed files (without docs and debug symbols):"
  sed 's/^/#   /' "$work/files"
  exit "$smoke"
fi

debdir=${1:?usage: test-install.sh DIR-WITH-DEBS}
debdir=$(cd "$debdir" && pwd)
ls "$debdir"/*.deb >/dev/null 2>&1 || { echo "test-install.sh: no .deb in $debdir" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "test-install.sh: run as root (it uses a mount namespace)" >&2; exit 1; }
command -v unshare >/dev/null 2>&1 || { echo "test-install.sh: unshare not found (util-linux)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/test-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/root"
echo "== installing $(ls "$debdir"/*.deb | wc -l) packages into a throwaway root (overlay of /)"
unshare --mount --propagation private sh "$0" --inside "$debdir" "$work/root" "$work"
