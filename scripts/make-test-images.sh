#!/usr/bin/env bash
# Offline test images for a private engine: make-test-images.sh HOST (e.g. unix:///d/docker.sock).
# Owns: local/busybox:1 (+ the tag local/busybox:latest) imported from busybox-static,
# and a check that a BuildKit build FROM it fills the build cache. Must not need a
# registry (none is reachable) or touch any engine but HOST.
set -euo pipefail

host=${1:?usage: $0 unix:///path/docker.sock}
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}
docker() { "$DOCKER_CLI" -H "$host" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A root filesystem: the static busybox plus the few applets tests use.
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh sleep true false echo cat ls env; do
  ln -s busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' - local/busybox:1 >/dev/null
docker tag local/busybox:1 local/busybox:latest

# BuildKit: the 20.10 client speaks it natively with DOCKER_BUILDKIT=1 (the 28.x client
# would want the absent buildx plugin). COPY (no RUN) so no network is needed.
mkdir -p "$work/ctx"
printf 'FROM local/busybox:1\nCOPY stamp /stamp\n' >"$work/ctx/Dockerfile"
echo "warm-up $(date +%s%N)" >"$work/ctx/stamp"
DOCKER_BUILDKIT=1 docker build -q -t local/built:1 "$work/ctx" >/dev/null
n=$(docker system df --format '{{if eq .Type "Build Cache"}}{{.TotalCount}}{{end}}' | tr -d '[:space:]')
if [ "${n:-0}" -lt 1 ]; then
  echo "make-test-images: BuildKit build left no build cache" >&2; exit 1
fi
echo "make-test-images: local/busybox:1, local/busybox:latest, local/built:1; build cache records: $n" >&2
