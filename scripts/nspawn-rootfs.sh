#!/usr/bin/env bash
# A minimal Debian root with a real systemd for the nspawn end-to-end test:
# `nspawn-rootfs.sh [DEST]` makes (once) and caches a zstd tarball of a debootstrap
# minbase tree with systemd, systemd-sysv and dbus, prints the tarball's path, and
# extracts it into DEST when given. Owns only the cache dir and DEST; must not name a
# mirror host: the mirror is the one apt on this machine is configured with.
#
# Environment: CDP_ROOTFS_CACHE  the cache dir (default /var/cache/ci-docker-prune-test).
#              CDP_ROOTFS_EXTRA  more packages to include, comma-separated (test_deb.py: the
#                                .deb's runtime libraries, so dpkg -i resolves them offline).
# Why cache: debootstrap takes ~50 s and needs the mirror; extracting the tarball 1.4 s (FACTS).
set -euo pipefail

cache=${CDP_ROOTFS_CACHE:-/var/cache/ci-docker-prune-test}
include=systemd,systemd-sysv,dbus${CDP_ROOTFS_EXTRA:+,$CDP_ROOTFS_EXTRA}
log() { echo "nspawn-rootfs: $*" >&2; }

# shellcheck disable=SC1091
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$release" ] || { log "no VERSION_CODENAME in /etc/os-release"; exit 1; }
# The cache key names what is in the tree, so changing the package list rebuilds it.
tarball="$cache/rootfs-$release-$(printf '%s' "$include" | sha1sum | cut -c1-8).tar.zst"

# The first archive URI apt uses for suite $release: deb822 *.sources stanzas first,
# then one-line sources.list entries. Disabled files (other suffixes) are not read.
configured_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v rel="$release" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " rel " ") && uri != "") { print uri; found = 1; exit }
        types = suites = uri = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "uris:"   { uri = $2 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v rel="$release" '$1 == "deb" && $3 == rel { print $2 }'
  done
}

build_tarball() {
  local mirror work
  mirror=$(configured_mirror | head -n1)
  [ -n "$mirror" ] || { log "no apt source for suite $release in /etc/apt/sources.list(.d)"; exit 1; }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  log "debootstrap $release ($include) from the configured mirror; takes about a minute"
  if ! debootstrap --variant=minbase --include="$include" "$release" "$work/root" "$mirror" \
      >"$work/debootstrap.log" 2>&1; then
    log "debootstrap failed; last lines:"; tail -n 20 "$work/debootstrap.log" >&2
    exit 1
  fi
  # Trim what the test never needs (apt lists, caches) to keep the tarball small.
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
  tar -C "$work/root" --numeric-owner -cf - . | zstd -q -T0 -o "$work/rootfs.tar.zst"
  mv "$work/rootfs.tar.zst" "$tarball"   # atomic: readers never see a partial tarball
  rm -rf "$work"
  trap - EXIT
}

mkdir -p "$cache"
# One builder at a time; the others wait and reuse its result.
exec 9>"$cache/.lock"
flock 9
[ -s "$tarball" ] || build_tarball
flock -u 9

if [ $# -ge 1 ]; then
  mkdir -p "$1"
  zstd -q -dc "$tarball" | tar -C "$1" --numeric-owner -xf -
fi
echo "$tarball"
