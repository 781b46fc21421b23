"""Helpers for the D-Bus tests: a private system bus using the shipped policy
(scripts/private-dbus.sh), the real daemon attached to it, busctl/gdbus clients as root or
as another user. Owns only the processes it starts (stopped by their pid) and their temp
dirs. Knows the SPEC's bus names, not the daemon's internals."""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "private-dbus.sh"
NAME = "net.commoninternet.CiDockerPrune1"
PATH = "/net/commoninternet/CiDockerPrune1"
IFACE = "net.commoninternet.CiDockerPrune1.Manager"
PROPERTIES = {
    "State": "s", "DockerConnected": "b", "DiskPath": "s", "DiskUsedPercent": "d",
    "DiskInodesUsedPercent": "d", "DiskThresholdPercent": "d", "Gates": "a(sbs)",
    "LiveRunStacks": "as", "UnconvergedServices": "as", "LastPruneFinished": "t",
    "LastPruneReclaimedBytes": "t", "NextPruneNotBefore": "t",
    # Beyond the SPEC's list (issue 12): what `status` and `status --check` show.
    "DiskInodeThresholdPercent": "d", "StuckServices": "as", "ConfigPath": "s", "ConfigLoadedAt": "t",
    "ConfigHash": "s", "Version": "s", "DryRun": "b", "Warnings": "as",
    # The emergency tier (issue 11): whether it is on, and its last episode.
    "EmergencyEnabled": "b", "LastEmergencyFinished": "t", "LastEmergencyEvicted": "t",
    "LastEmergencyReclaimedBytes": "t", "LastEmergencyEnded": "s", "LastEmergencyDryRun": "b",
}
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


class PrivateBus:
    def __init__(self):
        # Short path: unix socket paths are limited to 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="cdp-dbus-", dir="/tmp")
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(["bash", str(SCRIPT), self.dir], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        # Without the guid, like the real system bus address: a client must accept the
        # restarted daemon (a new guid) at the same path.
        self.address = self.proc.stdout.readline().strip().split(",guid=")[0]
        if not self.address.startswith("unix:"):
            self.stop()
            raise RuntimeError("private dbus-daemon did not print its address")

    def restart(self):
        """A dbus-daemon restart: every client loses its connection; same socket path."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        Path(self.dir, "system_bus_socket").unlink(missing_ok=True)
        self._start()

    def env(self, **extra):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, **extra)
        env.pop("JOURNAL_STREAM", None)
        return env

    def busctl(self, *args, as_nobody=False, timeout=60):
        """busctl --system --json=short ARGS; returns the CompletedProcess (text)."""
        cmd = [*(NOBODY if as_nobody else []), "busctl", "--system", "--json=short", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=timeout)

    def get(self, prop, as_nobody=False):
        import json
        r = self.busctl("get-property", NAME, PATH, IFACE, prop, as_nobody=as_nobody)
        assert r.returncode == 0, (prop, r.stderr)
        return json.loads(r.stdout)

    def monitor(self, as_nobody=False):
        return SignalMonitor(self, as_nobody)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class SignalMonitor:
    """`gdbus monitor` on our name: an ordinary subscriber (not a bus monitor), so it
    also shows what the policy lets a non-root user receive. Lines arrive on a queue."""

    def __init__(self, bus, as_nobody):
        cmd = [*(NOBODY if as_nobody else []), "stdbuf", "-oL", "gdbus", "monitor", "--system",
               "--dest", NAME, "--object-path", PATH]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=bus.env(HOME="/"))
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        # gdbus prints this once its match rule is in place (it is added before the
        # name lookup), so signals after it are not missed.
        self.wait_for(lambda line: "owned by" in line or "does not have an owner" in line, 30)

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if predicate(line):
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching signal within {timeout}s; saw: {self.seen[-20:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Daemon:
    """`ci-docker-prune daemon -c CONFIG` on the private bus; stderr kept in a file."""

    def __init__(self, cdp_bin, config, bus, log_path, env=None):
        self.bus = bus
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "w")
        # Its own lock folder (the SPEC's one-daemon lock) unless the test shares one.
        env = {"RUNTIME_DIRECTORY": str(self.log_path.parent / f"run-{self.log_path.stem}"), **(env or {})}
        self.proc = subprocess.Popen([cdp_bin, "daemon", "-c", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=bus.env(**env))

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_on_bus(self, timeout=60):
        """Waits until the daemon owns the name, reports Docker connected and knows its
        disk (DockerRootDir comes from Docker, a moment after connecting)."""
        from conftest import wait_until

        def ready():
            assert self.proc.poll() is None, f"daemon exited {self.proc.returncode}:\n{self.output()}"
            r = self.bus.busctl("get-property", NAME, PATH, IFACE, "DockerConnected", "DiskPath")
            return r.returncode == 0 and '"data":true' in r.stdout and '"data":"/' in r.stdout
        wait_until(ready, timeout=timeout, what="the daemon on the bus with Docker connected and its disk known")
        return self

    def stop(self):
        from conftest import stop_process
        stop_process(self.proc)
        self.log.close()
        return self.proc.returncode
