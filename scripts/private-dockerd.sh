#!/usr/bin/env bash
# A private, throwaway Docker engine for tests: `start DIR`, `stop DIR`, `purge DIR`.
# Owns: one dockerd (+ its own containerd) per DIR, in its own network namespace, with
# data-root, exec-root, pidfile, logs and the socket DIR/docker.sock under DIR; swarm
# initialised; offline test images (scripts/make-test-images.sh). Must not touch the
# host's engine, any process outside the engine's netns/DIR, or any mount outside DIR.
#
#   start DIR   start (cleaning leftovers of a crashed run on the same DIR first), wait
#               for GET /_ping, `swarm init`, make the test images. Prints the socket path.
#               State in DIR/root is kept: stop + start is an engine restart (swarm,
#               services, images survive); use purge + start for a fresh engine.
#   stop DIR    kill dockerd, containerd, shims and container processes of this engine,
#               unmount everything under DIR, delete the netns. Idempotent.
#   purge DIR   stop, then remove DIR.
#
# Environment:
#   CDP_DOCKERD_TMPFS_SIZE  e.g. "64m": data-root on a tmpfs of that size (disk-pressure tests).
#   CDP_DOCKERD_NO_SWARM=1  skip `swarm init`.   CDP_DOCKERD_NO_IMAGES=1  skip the images.
#   DOCKER_CLI              the docker client (default /usr/bin/docker, the 20.10 one: it
#                           builds with BuildKit via DOCKER_BUILDKIT=1 without buildx).
#
# Why a netns (nsenter --net, NOT `ip netns exec`): several engines with swarm share ports
# 2377/7946 otherwise (FACTS). `ip netns exec` also remounts /sys, which hides
# /sys/fs/cgroup from containerd/runc; nsenter --net switches only the network namespace,
# so mounts stay in the host namespace under DIR, where `stop` finds them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}

usage() { echo "usage: $0 start|stop|purge DIR" >&2; exit 2; }
log() { echo "private-dockerd: $*" >&2; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
# A name unique to DIR, short enough for `ip netns` (and stable across runs, so a
# crashed run's netns is found and removed by the next start/stop on the same DIR).
ns="cdp-$(printf '%s' "$dir" | sha1sum | cut -c1-12)"
sock="$dir/docker.sock"
# unix socket paths are limited to 108 bytes; containerd's lives deeper under exec/.
if [ ${#dir} -gt 60 ]; then
  log "DIR too long for unix socket paths (${#dir} > 60 chars): $dir"; exit 2
fi

# Pids of this engine's processes, one scan of /proc (python3: a bash loop forking per
# process took over a second). `containers` lists only container processes: a container's
# /proc/PID/root reads "/" from outside (its own mount namespace), but cgroupfs puts it in
# /docker/<id>, and the ids are the names under DIR/root/containers/. `all` adds the
# processes in the engine's netns and those whose cwd or command line is under DIR
# (dockerd, containerd and the shims name DIR in their arguments).
find_pids() {
  local netns_pids
  netns_pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
  python3 - "$1" "$dir" "$$" "$netns_pids" <<'EOF'
import os, re, sys
what, d, me, netns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
try:
    ids = {n for n in os.listdir(os.path.join(d, "root", "containers")) if re.fullmatch(r"[0-9a-f]{64}", n)}
except OSError:
    ids = set()
mine = {str(os.getpid()), str(os.getppid()), me}
out = set(netns) if what == "all" else set()
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if ids and set(re.findall(r"/docker/([0-9a-f]{64})", open(f"/proc/{p}/cgroup").read())) & ids:
            out.add(p); continue
        if what != "all":
            continue
        cwd = os.readlink(f"/proc/{p}/cwd")
        if cwd == d or cwd.startswith(d + "/"):
            out.add(p); continue
        if (d + "/").encode() in open(f"/proc/{p}/cmdline", "rb").read():
            out.add(p)
    except OSError:
        pass
print(" ".join(sorted(out - mine, key=int)))
EOF
}
container_pids() { find_pids containers; }
engine_pids() { find_pids all; }

# Mount points under DIR, deepest first (mountinfo field 5; octal escapes for spaces).
mounts_under_dir() {
  awk -v d="$dir" '{ m=$5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
    /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

stop_engine() {
  local pid pids i
  # 0. Kill the containers first: swarm tasks get a 10 s grace period on dockerd's
  #    shutdown whatever --shutdown-timeout says, and test containers need no grace.
  pids=$(container_pids)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  # 1. Ask dockerd to shut down: it stops its containers and its managed containerd.
  if [ -s "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    if [ -d "/proc/$pid" ] && grep -qF -- "$dir" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
  fi
  # 2. Whatever is left (a crashed run, shims, container processes): TERM, then KILL.
  for sig in TERM KILL; do
    pids=$(engine_pids)
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    for i in $(seq 1 50); do
      pids=$(engine_pids); [ -n "$pids" ] || break; sleep 0.1
    done
  done
  pids=$(engine_pids)
  [ -z "$pids" ] || log "warning: processes still alive: $pids"
  # 3. Unmount everything under DIR (overlay merged dirs, shm, netns files, the tmpfs).
  local m
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done < <(mounts_under_dir)
  # 4. The netns.
  if ip netns list 2>/dev/null | grep -qw -- "$ns"; then
    ip netns delete "$ns" 2>/dev/null || log "warning: cannot delete netns $ns"
  fi
  rm -f "$dir/docker.pid" "$sock"
}

wait_ping() {
  local i
  for i in $(seq 1 300); do
    if curl_ping; then return 0; fi
    if [ -s "$dir/docker.pid" ] && ! [ -d "/proc/$(cat "$dir/docker.pid")" ]; then break; fi
    sleep 0.1
  done
  return 1
}

# GET /_ping over the unix socket without curl (not installed): python3 is.
curl_ping() {
  [ -S "$sock" ] || return 1
  python3 - "$sock" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
data = s.recv(4096)
sys.exit(0 if data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0] + b" " else 1)
EOF
}

start_engine() {
  local t0 t1
  t0=$(date +%s%N)
  # Robust to a crashed earlier run on the same DIR.
  stop_engine
  mkdir -p "$dir/root" "$dir/exec"
  if [ -n "${CDP_DOCKERD_TMPFS_SIZE:-}" ]; then
    mount -t tmpfs -o "size=$CDP_DOCKERD_TMPFS_SIZE" "cdp-$ns" "$dir/root"
  fi
  if [ -e /run/containerd/containerd.sock ]; then
    # dockerd 20.10 uses a system containerd when that socket exists (no flag forces a
    # managed one); the engine then shares it. Say so rather than fail.
    log "note: /run/containerd/containerd.sock exists; dockerd will use that containerd"
  fi
  ip netns add "$ns"
  nsenter --net="/run/netns/$ns" ip link set lo up
  # setsid: the engine must not die with the caller's terminal/process group.
  # --shutdown-timeout 2: stop containers fast on `stop` (default is 15 s).
  setsid nsenter --net="/run/netns/$ns" /usr/sbin/dockerd \
    --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$sock" --iptables=false --ip-masq=false --bridge=none \
    --shutdown-timeout 2 --log-level info \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  if ! wait_ping; then
    log "dockerd did not answer /_ping; last log lines:"; tail -n 20 "$dir/dockerd.log" >&2
    stop_engine; exit 1
  fi
  t1=$(date +%s%N)
  log "ping ok after $(( (t1 - t0) / 1000000 )) ms (netns $ns)"
  # A restart on a kept data-root (stop + start) keeps its swarm: init only when inactive
  # (an autolocked swarm comes back "locked": test_safety_engine.py unlocks it itself).
  if [ -z "${CDP_DOCKERD_NO_SWARM:-}" ] &&
     [ "$("$DOCKER_CLI" -H "unix://$sock" info --format '{{.Swarm.LocalNodeState}}')" = inactive ]; then
    "$DOCKER_CLI" -H "unix://$sock" swarm init --advertise-addr 127.0.0.1 >/dev/null
  fi
  if [ -z "${CDP_DOCKERD_NO_IMAGES:-}" ]; then
    DOCKER_CLI="$DOCKER_CLI" "$here/make-test-images.sh" "unix://$sock" >&2
  fi
  log "ready after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  echo "$sock"
}

case "$cmd" in
  start) start_engine ;;
  stop) stop_engine ;;
  purge) stop_engine; rm -rf "$dir" ;;
  *) usage ;;
esac
