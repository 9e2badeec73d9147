#!/bin/sh
# Builds the Debian packages of scriptling-gossip from the `make dist`
# tarball, the way a Debian maintainer would: the tarball becomes the
# .orig.tar.xz, data/debian/ of the unpacked tree becomes debian/, and
# dpkg-buildpackage builds the source package and every binary package
# (with autoreconf, the test suite and the API reference). lintian then
# checks the result and fails on errors.
#
# Usage: build-deb.sh [--builddir DIR] [--tarball FILE] [--outdir DIR]
#                     [--nocheck] [--no-lintian]
#   --builddir DIR  configured build tree where `make dist` runs (default .)
#   --tarball FILE  use this scriptling-gossip-VERSION.tar.xz instead
#   --outdir DIR    where the packages go (default BUILDDIR/packages/deb)
#   --nocheck       skip the upstream test suite (DEB_BUILD_OPTIONS=nocheck)
#   --no-lintian    skip lintian
#
# Needs: dpkg-dev debhelper lintian and the Build-Depends of
# data/debian/control (dpkg-checkbuilddeps names what is missing).
set -eu

builddir=.
tarball=
outdir=
nocheck=
lintian=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --builddir) builddir=$2; shift 2 ;;
    --tarball) tarball=$2; shift 2 ;;
    --outdir) outdir=$2; shift 2 ;;
    --nocheck) nocheck=yes; shift ;;
    --no-lintian) lintian=; shift ;;
    -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

builddir=$(cd "$builddir" && pwd)
outdir=${outdir:-$builddir/packages/deb}

for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "build-deb.sh: $tool not found (apt-get install dpkg-dev debhelper)" >&2; exit 1; }
done

if [ -z "$tarball" ]; then
  echo "== make dist in $builddir"
  make -C "$builddir" dist >/dev/null
  tarball=$(ls -t "$builddir"/scriptling-gossip-*.tar.xz | head -n 1)
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
version=$(basename "$tarball" .tar.xz | sed 's/^scriptling-gossip-//')
echo "== packaging scriptling-gossip $version from $tarball"

rm -rf "$outdir"
mkdir -p "$outdir"
cp "$tarball" "$outdir/scriptling-gossip_$version.orig.tar.xz"
tar -C "$outdir" -xf "$tarball"
src=$outdir/scriptling-gossip-$version
[ -d "$src/data/debian" ] || { echo "build-deb.sh: $tarball has no data/debian/" >&2; exit 1; }
cp -a "$src/data/debian" "$src/debian"

# A release whose version has no changelog entry yet gets one in this copy.
packaged=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version | sed 's/-[^-]*$//')
if [ "$packaged" != "$version" ]; then
  echo "== note: debian/changelog is at $packaged; adding an entry for $version to the build copy"
  {
    echo "scriptling-gossip ($version-1) UNRELEASED; urgency=medium"
    echo
    echo "  * New upstream release $version (automatic entry, update data/debian/changelog)."
    echo
    echo " -- scriptling-gossip maintainers <maintainers@example.invalid>  $(date -R)"
    echo
    cat "$src/data/debian/changelog"
  } > "$src/debian/changelog"
fi

cd "$src"
if ! dpkg-checkbuilddeps 2>"$outdir/builddeps.log"; then
  cat "$outdir/builddeps.log" >&2
  echo "build-deb.sh: install the missing build dependencies above (apt-get install ...)" >&2
  exit 1
fi

DEB_BUILD_OPTIONS="parallel=$(nproc)${nocheck:+ nocheck}${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
export DEB_BUILD_OPTIONS
echo "== dpkg-buildpackage (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS); log: $outdir/build.log"
if ! dpkg-buildpackage -us -uc > "$outdir/build.log" 2>&1; then
  tail -n 80 "$outdir/build.log" >&2
  echo "build-deb.sh: dpkg-buildpackage failed (full log: $outdir/build.log)" >&2
  exit 1
fi
cd "$outdir"
changes=$(ls "$outdir"/scriptling-gossip_*.changes | head -n 1)

status=0
if [ -n "$lintian" ]; then
  if command -v lintian >/dev/null 2>&1; then
    echo "== lintian (errors fail; log: $outdir/lintian.log)"
    lintian --info --display-info --fail-on error "$changes" > "$outdir/lintian.log" 2>&1 || status=$?
    if [ -s "$outdir/lintian.log" ]; then cat "$outdir/lintian.log"; else echo "lintian: clean"; fi
    [ "$status" -eq 0 ] || echo "build-deb.sh: lintian found errors" >&2
  else
    echo "== lintian not installed, skipped (apt-get install lintian)"
  fi
fi

echo "== packages in $outdir"
for deb in "$outdir"/*.deb; do
  printf '%-48s %8s bytes, installed %6s KiB\n' "$(basename "$deb")" "$(stat -c %s "$deb")" \
    "$(dpkg-deb -f "$deb" Installed-Size)"
done
exit "$status"
