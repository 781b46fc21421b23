#!/usr/bin/env bash
# Builds the Debian package from this working tree without touching it:
# `build-deb.sh [--nocheck] [--version V] OUTDIR` copies the tracked and new (not
# ignored) files to a fixed work folder, runs `dpkg-buildpackage -b -us -uc` there and
# moves the .deb, .changes and .buildinfo to OUTDIR. --version prepends a changelog entry
# (for upgrade tests); --nocheck skips the unit tests (and their compilation).
# Owns only the work folder ($CDP_DEB_WORK, default /var/tmp/ci-docker-prune-deb).
# Why a fixed folder: dpkg's build flags embed the source path (-ffile-prefix-map), so
# ccache hits only when the path is the same from one build to the next.
set -euo pipefail

nocheck="" version=""
while [ $# -gt 1 ]; do
  case "$1" in
    --nocheck) nocheck=1; shift ;;
    --version) version=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--nocheck] [--version V] OUTDIR" >&2; exit 2; }
out=$(realpath -m "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${CDP_DEB_WORK:-/var/tmp/ci-docker-prune-deb}
mkdir -p "$work" "$out"

exec 9>"$work/.lock"   # one build at a time in the work folder
flock 9
rm -rf "$work/src" "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$work"/*.ddeb
mkdir "$work/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
   xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf -) | tar -C "$work/src" -xf -

if [ -n "$version" ]; then
  entry=$(printf 'ci-docker-prune (%s) unstable; urgency=medium\n\n  * Rebuilt as %s.\n\n -- %s  %s\n\n' \
    "$version" "$version" "$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$work/src/debian/changelog" | head -n1)" "$(date -R)")
  printf '%s\n' "$entry" | cat - "$work/src/debian/changelog" > "$work/changelog.new"
  mv "$work/changelog.new" "$work/src/debian/changelog"
fi

export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ci-docker-prune-test/ccache} CCACHE_BASEDIR="$work/src"
[ -d /usr/lib/ccache ] && export PATH="/usr/lib/ccache:$PATH"
opts="${DEB_BUILD_OPTIONS:-} parallel=2"
[ -n "$nocheck" ] && opts="$opts nocheck"
(cd "$work/src" && DEB_BUILD_OPTIONS="$opts" nice dpkg-buildpackage -b -us -uc ${nocheck:+-Pnocheck}) \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
ls "$out"/ci-docker-prune_*.deb
