#!/bin/sh
# Builds the RPM packages of scriptling-gossip from the `make dist` tarball
# with rpmbuild and data/rpm/scriptling-gossip.spec, lists their contents
# (rpm -qlp) and runs rpmlint when it is installed.
#
# Usage: build-rpm.sh [--builddir DIR] [--tarball FILE] [--outdir DIR]
#                     [--nocheck] [--nodeps]
#   --builddir DIR  configured build tree where `make dist` runs (default .)
#   --tarball FILE  use this scriptling-gossip-VERSION.tar.xz instead
#   --outdir DIR    rpmbuild top directory (default BUILDDIR/packages/rpm)
#   --nocheck       skip %check (the upstream test suite)
#   --nodeps        do not check BuildRequires (default on Debian/Ubuntu,
#                   whose RPM database is empty: the Debian packages of
#                   .ci/deps provide the build dependencies there)
set -eu

builddir=.
tarball=
outdir=
nocheck=
nodeps=
[ -f /etc/debian_version ] && nodeps=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --builddir) builddir=$2; shift 2 ;;
    --tarball) tarball=$2; shift 2 ;;
    --outdir) outdir=$2; shift 2 ;;
    --nocheck) nocheck=yes; shift ;;
    --nodeps) nodeps=yes; shift ;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "build-rpm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

command -v rpmbuild >/dev/null 2>&1 ||
  { echo "build-rpm.sh: rpmbuild not found (apt-get install rpm, or dnf install rpm-build)" >&2; exit 1; }

builddir=$(cd "$builddir" && pwd)
outdir=${outdir:-$builddir/packages/rpm}
if [ -z "$tarball" ]; then
  echo "== make dist in $builddir"
  make -C "$builddir" dist >/dev/null
  tarball=$(ls -t "$builddir"/scriptling-gossip-*.tar.xz | head -n 1)
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
version=$(basename "$tarball" .tar.xz | sed 's/^scriptling-gossip-//')

rm -rf "$outdir"
mkdir -p "$outdir/SOURCES" "$outdir/SPECS"
cp "$tarball" "$outdir/SOURCES/"
# The spec comes from the tarball, as with rpmbuild -ta.
tar -xOf "$tarball" "scriptling-gossip-$version/data/rpm/scriptling-gossip.spec" > "$outdir/SPECS/scriptling-gossip.spec"
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$outdir/SPECS/scriptling-gossip.spec")
if [ "$spec_version" != "$version" ]; then
  echo "== note: the spec is at $spec_version; building $version with Release 0 (update data/rpm/scriptling-gossip.spec)"
  sed -i -e "s/^Version:.*/Version:        $version/" -e 's/^Release:.*/Release:        0%{?dist}/' \
    "$outdir/SPECS/scriptling-gossip.spec"
fi

echo "== rpmbuild -ba scriptling-gossip.spec ($version); log: $outdir/build.log"
set -- --define "_topdir $outdir" --define "_smp_mflags -j$(nproc)"
[ -n "$nodeps" ] && set -- "$@" --nodeps
[ -n "$nocheck" ] && set -- "$@" --without check
if ! rpmbuild -ba "$@" "$outdir/SPECS/scriptling-gossip.spec" > "$outdir/build.log" 2>&1; then
  tail -n 60 "$outdir/build.log" >&2
  echo "build-rpm.sh: rpmbuild failed (full log: $outdir/build.log)" >&2
  exit 1
fi

echo "== packages"
for rpm in "$outdir"/RPMS/*/*.rpm "$outdir"/SRPMS/*.rpm; do
  printf '%-58s %8s bytes\n' "$(basename "$rpm")" "$(stat -c %s "$rpm")"
done
for rpm in "$outdir"/RPMS/*/*.rpm; do
  echo "== rpm -qlp $(basename "$rpm")"
  rpm -qlp "$rpm" | grep -v -E '/usr/share/gtk-doc/html/gossip-1.0/.+' | sed 's/^/   /'
  rpm -qlp "$rpm" | grep -q -E '/usr/share/gtk-doc/html/gossip-1.0/.+' &&
    echo "   ... and $(rpm -qlp "$rpm" | grep -c -E '/usr/share/gtk-doc/html/gossip-1.0/.+') files of the HTML reference"
done

if command -v rpmlint >/dev/null 2>&1; then
  echo "== rpmlint"
  tar -xOf "$tarball" "scriptling-gossip-$version/data/rpm/scriptling-gossip.rpmlintrc" > "$outdir/SPECS/scriptling-gossip.rpmlintrc"
  rpmlint -r "$outdir/SPECS/scriptling-gossip.rpmlintrc" \
    "$outdir"/RPMS/*/*.rpm "$outdir"/SRPMS/*.rpm "$outdir/SPECS/scriptling-gossip.spec" 2>&1 |
    tee "$outdir/rpmlint.log" || true
fi
