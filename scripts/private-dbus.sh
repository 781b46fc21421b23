#!/usr/bin/env bash
# A private system bus for tests: `private-dbus.sh DIR [POLICY_DIR]` writes DIR/system.conf
# (Debian's /usr/share/dbus-1/system.conf, listening on DIR/system_bus_socket, without
# user/fork/pidfile/syslog, the service helper or any /etc include; its only includedir is
# POLICY_DIR, default the repo's systemd/ folder holding the shipped policy), then execs
# dbus-daemon in the foreground; its first stdout line is the address for
# DBUS_SYSTEM_BUS_ADDRESS. Owns only DIR. Stop it by the pid of this process.
set -euo pipefail

dir=${1:?usage: $0 DIR [POLICY_DIR]}
policy_dir=${2:-$(cd "$(dirname "$0")/../systemd" && pwd)}
base=/usr/share/dbus-1/system.conf
mkdir -p "$dir"
# Other users (the "nobody" in the policy tests) must reach the socket.
chmod 755 "$dir"

# One line per element we drop; includedir/include lines all go, then ours is added.
sed -e '/<user>/d' -e '/<fork\/>/d' -e '/<pidfile>/d' -e '/<syslog\/>/d' \
    -e '/<servicehelper>/d' -e '/<standard_system_servicedirs\/>/d' \
    -e '/<include/d' -e '/<includedir>/d' \
    -e "s|<listen>.*</listen>|<listen>unix:path=$dir/system_bus_socket</listen>|" \
    -e "s|</busconfig>|  <includedir>$policy_dir</includedir>\n</busconfig>|" \
    "$base" >"$dir/system.conf"

exec dbus-daemon --config-file="$dir/system.conf" --nofork --nopidfile --print-address=1
