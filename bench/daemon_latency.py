#!/usr/bin/python3
"""Daemon latency and footprint benchmark (issue 3). Prints a table of medians.

  sudo CDP_BIN=build/ci-docker-prune /usr/bin/python3 bench/daemon_latency.py [-n 5] [--idle 60]

Owns: one private dockerd (scripts/private-dockerd.sh via test/integration/conftest.py's
Engine), a 16 MiB tmpfs as disk.path, daemons started as children. Must not touch the
host's engine. Measures, from the daemon's own stderr timestamps (UTC, ms) and the
engine's event times (timeNano), both on the wall clock:
  - gate clear -> prune request (log stamps are floored to the ms, so +-1 ms reads as 0): the engine's last event of the removed run stack (its
    service remove / task container die or destroy) to the daemon's prune_start record;
  - disk crossing -> gate open: dd start to the daemon's "Gate disk open" record, with
    disk.poll_interval 1h (so only the inotify watch can notice);
  - RSS after sync: VmRSS once STATUS left `connecting`;
  - CPU while idle: utime+stime over --idle seconds with nothing happening.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "integration"))
from conftest import RUN_STACK, Engine, wait_until  # noqa: E402

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")


def log_time(line):
    m = STAMP.match(line)
    return datetime.fromisoformat(m.group(1) + "+00:00").timestamp() if m else None


class Daemon:
    def __init__(self, binary, config: dict, work: Path):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        (work / "c.json").write_text(json.dumps(config))
        self.notify_path = str(work / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        self.sock.setblocking(False)
        self.status = ""
        self.ready = False
        self.err = open(work / "stderr", "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "WATCHDOG_USEC", "DOCKER_HOST")}
        env["NOTIFY_SOCKET"] = self.notify_path
        # Its own state file and lock: the defaults are the host's (/var/lib/ci-docker-prune,
        # /run/ci-docker-prune), and a cooldown persisted by one run would hold the next
        # (seen: the second prune-latency run waited out the first one's 15 min cooldown).
        for var, sub in (("STATE_DIRECTORY", "state"), ("RUNTIME_DIRECTORY", "run")):
            (work / sub).mkdir(exist_ok=True)
            env[var] = str(work / sub)
        self.proc = subprocess.Popen([binary, "daemon", "-c", str(work / "c.json")], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)

    def pump(self):
        while True:
            try:
                data = self.sock.recv(65536).decode(errors="replace")
            except BlockingIOError:
                return
            for line in data.split("\n"):
                if line.startswith("STATUS="):
                    self.status = line[7:]
                elif line == "READY=1":
                    self.ready = True

    def wait_status(self, pred, what, timeout=90):
        def ok():
            self.pump()
            return pred(self.status)
        wait_until(ok, timeout, what, interval=0.02)

    def lines(self):
        return (self.work / "stderr").read_text(errors="replace").splitlines()

    def first_line_after(self, needle, t, timeout=60):
        def find():
            for line in self.lines():
                lt = log_time(line)
                if needle in line and lt is not None and lt >= t - 0.001:
                    return lt
            return None
        return wait_until(find, timeout, f"{needle!r} in the daemon log", interval=0.02)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.sock.close()
        self.err.close()


def config(engine, fs, **over):
    cfg = {"docker": {"host": engine.host},
           "disk": {"path": str(fs), "threshold_percent": 50, "inode_threshold_percent": 100},
           "gates": {"settle": "0s"}, "prune": {"until": "1s", "dry_run": False}}
    for k, v in over.items():
        cfg[k].update(v)
    return cfg


def fill(disk, mb):
    subprocess.run(["dd", "if=/dev/zero", f"of={disk}/fill", "bs=1M", f"count={mb}"], check=True,
                   capture_output=True)


def last_stack_event(engine, since, until):
    """timeNano (s) of the run stack's last gate-relevant event in [since, until]."""
    f = engine.filters(type=["service", "container"])
    r = engine.api("GET", f"/events?since={since:.3f}&until={until:.3f}&filters={f}")
    last = None
    for line in r.text.splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        attrs = e.get("Actor", {}).get("Attributes", {})
        mine = attrs.get("com.docker.stack.namespace") == RUN_STACK or attrs.get("name", "").startswith(RUN_STACK)
        # The runs gate clears on the service's removal and its task containers' die
        # (destroy comes later but a dead container is no longer live).
        if mine and e.get("Action") in ("remove", "die"):
            last = e["timeNano"] / 1e9
    return last


def bench_prune_latency(binary, engine, disk, work, n):
    out = []
    for i in range(n):
        svc = engine.create_service(stack=RUN_STACK)
        d = Daemon(binary, config(engine, disk), work / f"p{i}")
        try:
            d.wait_status(lambda s: s.startswith("blocked:") and RUN_STACK in s, "blocked by the run stack")
            t_rm = time.time()
            engine.remove_service(svc, wait=False)
            t_prune = d.first_line_after("CDP_EVENT=prune_start", t_rm)
            time.sleep(0.5)  # let Docker finish writing its events before asking for them
            t_clear = last_stack_event(engine, t_rm - 1, time.time())
            out.append((t_prune - t_clear) * 1000 if t_clear else float("nan"))
        finally:
            d.stop()
        engine.reset()
    return out


def bench_disk_latency(binary, engine, disk, work, n):
    engine.create_service(stack=RUN_STACK)  # blocked: no prune gets in the way
    d = Daemon(binary, config(engine, disk, disk={"poll_interval": "1h"}), work / "crossing")
    out = []
    try:
        for _ in range(n):
            Path(disk, "fill").unlink(missing_ok=True)
            d.wait_status(lambda s: s.startswith("idle:"), "idle")
            # Disk re-reads are coalesced to one a second: a crossing right after the
            # read that saw the unlink would wait out that second. Measure the steady case.
            time.sleep(1.5)
            t0 = time.time()
            fill(disk, 9)
            t_open = d.first_line_after("Gate disk open", t0)
            out.append((t_open - t0) * 1000)
        Path(disk, "fill").unlink(missing_ok=True)
        d.wait_status(lambda s: s.startswith("idle:"), "idle")
    finally:
        d.stop()
    engine.reset()
    return out


def proc_cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def bench_footprint(binary, engine, disk, work, idle_s):
    d = Daemon(binary, config(engine, disk), work / "idle")
    try:
        d.wait_status(lambda s: s.startswith("idle:") and "converg" in s, "idle and synced")
        time.sleep(2)  # the second services observation and the first disk read land
        rss = next(int(l.split()[1]) for l in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines()
                   if l.startswith("VmRSS:"))
        c0 = proc_cpu_ticks(d.proc.pid)
        time.sleep(idle_s)
        c1 = proc_cpu_ticks(d.proc.pid)
    finally:
        d.stop()
    hz = os.sysconf("SC_CLK_TCK")
    return rss, (c1 - c0) * 1000 / hz


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=5, help="iterations per latency (default 5)")
    ap.add_argument("--idle", type=int, default=60, help="idle window in seconds (default 60)")
    args = ap.parse_args()
    binary = os.environ.get("CDP_BIN", str(REPO / "build" / "ci-docker-prune"))
    if os.geteuid() != 0:
        sys.exit("bench: run as root (private dockerd, tmpfs)")
    work = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    disk = work / "fs"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "cdp-bench", str(disk)], check=True)
    engine = Engine(tempfile.mkdtemp(prefix="cdp-be-", dir="/tmp"))
    try:
        engine.start()
        # The idle footprint first, on an empty disk (below threshold: nothing to do).
        rss_kib, idle_cpu_ms = bench_footprint(binary, engine, disk, work, args.idle)
        fill(disk, 9)  # 56% >= 50%: the disk gate is open for the prune latency runs
        prune = bench_prune_latency(binary, engine, disk, work, args.n)
        Path(disk, "fill").unlink()
        crossing = bench_disk_latency(binary, engine, disk, work, args.n)
    finally:
        engine.purge()
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("gate clear -> prune request (median)", f"{statistics.median(prune):.1f} ms", "< 250 ms",
         ", ".join(f"{x:.1f}" for x in prune)),
        ("disk crossing -> gate open (median)", f"{statistics.median(crossing):.0f} ms", "< 2000 ms",
         ", ".join(f"{x:.0f}" for x in crossing)),
        ("RSS after sync", f"{rss_kib / 1024:.1f} MiB", "< 10 MiB", ""),
        (f"CPU while idle {args.idle} s", f"{idle_cpu_ms:.0f} ms", "~0", ""),
    ]
    w = [max(len(r[i]) for r in rows + [("measure", "value", "target", "samples (ms)")]) for i in range(4)]
    print(f"{'measure':<{w[0]}}  {'value':>{w[1]}}  {'target':<{w[2]}}  samples (ms)")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")


if __name__ == "__main__":
    main()
