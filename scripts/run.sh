#!/usr/bin/env bash
# README quick start, command 1: build ci-docker-prune and run the daemon in the
# foreground in dry-run (it decides and logs, and sends no prune), against the engine at
# $DOCKER_HOST or /var/run/docker.sock, or — when none answers — a private throwaway
# dockerd with swarm initialised (scripts/private-dockerd.sh), stopped again on exit.
# Ctrl-C stops it. Extra arguments are ignored; set CDP_CONFIG=FILE to start from your own
# config (dry_run is forced on either way).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (apt-get, and the private engine needs it)" >&2; exit 1; }
bash scripts/install-deps.sh run

# Ninja, for a new build folder (an existing one keeps its generator): it starts a room's
# files before the rooms below it are archived, where make waits (issue 9, build time).
command -v ninja >/dev/null && export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)" --target ci-docker-prune
bin="$root/build/ci-docker-prune"

host=${DOCKER_HOST:-unix:///var/run/docker.sock}
sock=${host#unix://}
answers() {  # GET /_ping on a unix socket, 3 s at most
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(3)
try:
    s.connect(sys.argv[1]); s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if s.recv(64).startswith(b"HTTP/1.") else 1)
except OSError:
    sys.exit(1)
PY
}

private=""
if [[ $host == unix://* ]] && answers "$sock"; then
  echo "run.sh: using the Docker engine at $host" >&2
else
  private=/tmp/ci-docker-prune-dev
  echo "run.sh: no engine answers at $host; starting a private one in $private" >&2
  sock=$(bash scripts/private-dockerd.sh start "$private" | tail -n 1)
  host="unix://$sock"
  trap 'bash "$root/scripts/private-dockerd.sh" stop "$private" >/dev/null 2>&1 || true' EXIT
fi

cfg=$(mktemp /tmp/ci-docker-prune-run.XXXXXX.json)
trap 'rm -f "$cfg"; [ -z "$private" ] || bash "$root/scripts/private-dockerd.sh" stop "$private" >/dev/null 2>&1 || true' EXIT
python3 - "${CDP_CONFIG:-}" "$host" > "$cfg" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])) if sys.argv[1] else {}
cfg.setdefault("docker", {})["host"] = sys.argv[2]
cfg.setdefault("prune", {})["dry_run"] = True
print(json.dumps(cfg, indent=2))
PY
echo "run.sh: config $cfg (dry_run forced on):" >&2
"$bin" check-config -c "$cfg" >&2
echo "run.sh: starting '$bin daemon -c $cfg' — Ctrl-C to stop" >&2
"$bin" daemon -c "$cfg" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
wait $pid || true
wait $pid 2>/dev/null || true
