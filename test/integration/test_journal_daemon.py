"""The real daemon's records in a real journald (SPEC.md "Reporting: Journal"), end to end:
the daemon runs as a service would (stdout/stderr a journal stream, JOURNAL_STREAM set) in
a mount namespace with a standalone journald (journalns.py); a small tmpfs over its
threshold makes it prune for real on a private dockerd. Read back with journalctl -o json:
SYSLOG_IDENTIFIER, the CDP_* decision fields, MESSAGE_ID on the finished prune, the
still_full warning, and nothing written as plain stream lines.
(test_journal.py checks the journal sink alone through the unit-test binary.)"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import wait_until
from journalns import JournalNamespace

PRUNE_FINISHED = "e7cea30e9fb54ec5bd9950e945aca9d8"


@pytest.fixture
def full_disk():
    """A 16 MiB tmpfs filled to ~75%: over a 50% threshold, and a prune of Docker's
    store cannot relieve it (so the daemon must also warn still_full)."""
    d = tempfile.mkdtemp(prefix="cdp-disk-", dir="/tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", d], check=True)
    try:
        with open(os.path.join(d, "ballast"), "wb") as f:
            f.write(b"\0" * (12 * 1024 * 1024))
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def journal():
    if os.geteuid() != 0 or not Path("/lib/systemd/systemd-journald").exists():
        pytest.skip("needs root and systemd-journald")
    j = JournalNamespace()
    try:
        yield j.start()
    finally:
        j.stop()


def test_daemon_records_in_the_journal(cdp_bin, clean_engine, full_disk, tmp_config, journal, tmp_path):
    stopped = clean_engine.run_container(state="exited")
    clean_engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    created = time.time()
    # Docker turns until=1s into whole seconds (reference.Add(-d).Unix() in moby's
    # timetypes.GetTimestamp), so a container is surely older only after 2 s.
    wait_until(lambda: time.time() - created > 2.5, timeout=10, what="the container to age past until=1s")
    cfg = tmp_config(docker={"host": clean_engine.host},
                     disk={"path": full_disk, "threshold_percent": 50, "poll_interval": "1s"},
                     gates={"settle": "0s"},
                     prune={"until": "1s", "cooldown": "1h", "dry_run": False})
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/cdp-test-bus")
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFY_SOCKET", None)
    env["RUNTIME_DIRECTORY"] = str(tmp_path / "run")  # its own one-daemon lock
    proc = journal.spawn([cdp_bin, "daemon", "-c", str(cfg)], "ci-docker-prune", env=env)
    try:
        def daemon_records():
            assert proc.poll() is None, f"daemon exited with {proc.returncode}"
            return [r for r in journal.records() if r.get("_PID") == str(proc.pid)]

        def finished():
            recs = daemon_records()
            return recs if any(r.get("CDP_EVENT") == "prune_done" for r in recs) and \
                any(r.get("CDP_EVENT") == "still_full" for r in recs) else None
        records = wait_until(finished, timeout=120, interval=0.5, what="prune_done and still_full in the journal")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0

    # Native records only: nothing came through the stdout stream as plain lines.
    assert records
    assert all(r.get("_TRANSPORT") == "journal" for r in records), \
        [(r.get("_TRANSPORT"), r.get("MESSAGE")) for r in records if r.get("_TRANSPORT") != "journal"]
    assert all(r.get("SYSLOG_IDENTIFIER") == "ci-docker-prune" for r in records)

    events = {r.get("CDP_EVENT") for r in records}
    assert {"docker_connected", "gate", "prune_start", "prune_step", "prune_done", "still_full"} <= events, events

    gate_records = [r for r in records if r.get("CDP_EVENT") == "gate"]
    assert {r.get("CDP_GATE") for r in gate_records} >= {"disk"}
    assert all(r.get("CDP_OPEN") in ("true", "false", "1", "0") for r in gate_records), gate_records
    disk_open = [r for r in gate_records if r.get("CDP_GATE") == "disk" and r.get("CDP_OPEN") in ("true", "1")]
    assert disk_open and float(disk_open[-1]["CDP_DISK_PERCENT"]) >= 50

    steps = [r.get("CDP_STEP") for r in records if r.get("CDP_EVENT") == "prune_step"]
    assert steps and set(steps) <= {"containers", "images", "build_cache"}, steps

    done = [r for r in records if r.get("CDP_EVENT") == "prune_done"]
    assert len(done) == 1  # cooldown 1h: exactly one prune
    assert done[0].get("MESSAGE_ID") == PRUNE_FINISHED
    assert int(done[0]["CDP_RECLAIMED_BYTES"]) > 0  # a dangling image from 2020 went

    full = [r for r in records if r.get("CDP_EVENT") == "still_full"]
    assert len(full) == 1 and full[0]["PRIORITY"] == "4", full
    assert clean_engine.api("GET", f"/containers/{stopped}/json").status == 404
