#!/usr/bin/env bash
# Installs what building, running and testing ci-docker-prune needs, from Debian 12's
# packages, and only what is missing (so a second run is a no-op and needs no network).
# A Docker engine (docker.io) is installed only when no `dockerd` exists at all: on a host
# running Docker's own docker-ce/containerd.io packages, `apt-get install -y docker.io`
# conflicts with them and may remove the running engine (issue 12).
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config ccache libboost-dev nlohmann-json3-dev libspdlog-dev
            libfmt-dev libsystemd-dev catch2 prometheus-cpp-dev)
run_pkgs=(busybox-static iproute2 util-linux python3)
# Any dockerd on PATH (docker.io, docker-ce, a static binary in /usr/local/bin) will do.
command -v dockerd >/dev/null 2>&1 || run_pkgs=(docker.io "${run_pkgs[@]}")
test_pkgs=(python3 python3-pytest python3-pytest-timeout dbus libglib2.0-bin systemd systemd-container debootstrap nix-bin zstd e2fsprogs
           psmisc procps prometheus debhelper dpkg-dev pandoc lintian)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  run) want+=("${run_pkgs[@]}") ;;
  all) want+=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|run|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
