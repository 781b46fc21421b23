"""D-Bus and `status` (SPEC.md "Reporting: D-Bus", "Command line"): the real daemon on a
private system bus that enforces the shipped policy, against a private dockerd.
busctl reads every property; `status` and `status --json` print them; PruneNow works for
root (and never waives the runs gate) and is refused for another user, who may still read
the properties and receive the signals; PropertiesChanged arrives when the state changes;
`status` exits 3 when the daemon (or the bus) is not there."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from busfix import IFACE, NAME, NOBODY, PATH, PROPERTIES, Daemon, PrivateBus
from conftest import RUN_STACK, wait_until

# The disk gate must stay closed unless a test waives it (PruneNow(true)): a prune on its
# own would race the test. 100% is the largest valid threshold.
CONFIG = dict(disk={"threshold_percent": 100, "inode_threshold_percent": 100},
              gates={"settle": "0s"}, prune={"until": "1s", "cooldown": "0s"})


@pytest.fixture
def bus():
    if not shutil.which("dbus-daemon") or not shutil.which("busctl"):
        pytest.skip("needs dbus-daemon and busctl")
    b = PrivateBus()
    yield b
    b.stop()


@pytest.fixture
def daemon(cdp_bin, clean_engine, bus, tmp_config, tmp_path):
    cfg = tmp_config(docker={"host": clean_engine.host}, **CONFIG)
    d = Daemon(cdp_bin, cfg, bus, tmp_path / "daemon.log")
    try:
        d.wait_on_bus()
        yield d
    finally:
        rc = d.stop()
        assert rc == 0, f"daemon exit {rc}:\n{d.output()}"


def status(cdp_bin, bus_env, *args):
    return subprocess.run([cdp_bin, "status", *args], capture_output=True, text=True, env=bus_env, timeout=30)


def call_prune_now(bus, ignore_disk, as_nobody=False):
    return bus.busctl("--timeout=120", "call", NAME, PATH, IFACE, "PruneNow", "b",
                      "true" if ignore_disk else "false", as_nobody=as_nobody, timeout=150)


def exists(engine, cid):
    return engine.api("GET", f"/containers/{cid}/json").status == 200


def test_every_property_reads_with_its_type(daemon, bus):
    values = {p: bus.get(p) for p in PROPERTIES}
    for prop, sig in PROPERTIES.items():
        assert values[prop]["type"] == sig, (prop, values[prop])
    assert values["DockerConnected"]["data"] is True
    assert values["State"]["data"] in ("idle", "blocked", "settling", "pruning", "cooldown")
    assert values["DiskPath"]["data"].startswith("/")
    assert 0 <= values["DiskUsedPercent"]["data"] <= 100
    assert values["DiskThresholdPercent"]["data"] == 100
    gates = {g[0]: (g[1], g[2]) for g in values["Gates"]["data"]}
    assert {"disk", "runs", "converge", "cooldown"} <= gates.keys(), gates
    assert gates["runs"][0] is True and gates["converge"][0] is True
    assert all(reason for _, reason in gates.values()), gates  # each verdict says why
    assert values["LiveRunStacks"]["data"] == []
    assert values["LastPruneFinished"]["data"] == 0  # never pruned yet

    # Introspection lists the whole interface (methods and signal included).
    intro = bus.busctl("introspect", NAME, PATH, IFACE)
    assert intro.returncode == 0, intro.stderr
    for member in [*PROPERTIES, "PruneNow", "Reload", "PruneFinished"]:
        assert member in intro.stdout


def test_status_prints_the_properties(cdp_bin, daemon, bus, clean_engine):
    clean_engine.run_container(stack=RUN_STACK)
    wait_until(lambda: bus.get("LiveRunStacks")["data"] == [RUN_STACK], timeout=60, what="the live run stack")

    human = status(cdp_bin, bus.env())
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert f"State: {bus.get('State')['data']}" in out
    assert bus.get("DiskPath")["data"] in out
    assert "threshold 100%" in out
    for name, is_open, reason in bus.get("Gates")["data"]:
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert ("open" if is_open else "closed") in line and reason in line, (line, reason)
    assert f"Live run stacks: {RUN_STACK}" in out
    assert "Last prune: never" in out

    js = status(cdp_bin, bus.env(), "--json")
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    assert doc["state"] == bus.get("State")["data"]
    assert doc["docker_connected"] is True
    assert doc["disk"]["path"] == bus.get("DiskPath")["data"]
    assert doc["disk"]["threshold_percent"] == 100
    assert abs(doc["disk"]["used_percent"] - bus.get("DiskUsedPercent")["data"]) < 5
    assert [[g["name"], g["open"], g["reason"]] for g in doc["gates"]] == bus.get("Gates")["data"]
    assert doc["live_run_stacks"] == [RUN_STACK]
    assert doc["unconverged_services"] == []
    assert doc["last_prune"] == {"finished": None, "finished_us": 0, "reclaimed_bytes": 0}
    assert "next_prune_not_before_us" in doc


def test_prune_now_as_root_prunes_and_signals(cdp_bin, daemon, bus, clean_engine):
    stopped = clean_engine.run_container(state="exited")
    # until is 1s: the container must be older than that when the prune runs.
    created = time.time()
    # Docker turns until=1s into whole seconds (reference.Add(-d).Unix() in moby's
    # timetypes.GetTimestamp), so a container is surely older only after 2 s.
    wait_until(lambda: time.time() - created > 2.5, timeout=10, what="the container to age past until=1s")
    mon = bus.monitor()
    try:
        r = call_prune_now(bus, ignore_disk=True)
        assert r.returncode == 0, r.stderr
        reply = json.loads(r.stdout)
        assert reply["type"] == "st"
        outcome, reclaimed = reply["data"]
        assert outcome and not outcome.startswith("skipped"), outcome
        assert isinstance(reclaimed, int) and reclaimed >= 0
        assert not exists(clean_engine, stopped)
        mon.wait_for(lambda l: "PruneFinished" in l, timeout=30)
        mon.wait_for(lambda l: "PropertiesChanged" in l and "LastPruneFinished" in l, timeout=30)
    finally:
        mon.stop()
    assert bus.get("LastPruneFinished")["data"] > 0
    assert bus.get("LastPruneReclaimedBytes")["data"] == reclaimed
    out = status(cdp_bin, bus.env()).stdout
    assert "Last prune: " in out and " ago " in out and "never" not in out


def test_prune_now_never_waives_a_live_run(daemon, bus, clean_engine):
    stopped = clean_engine.run_container(state="exited")
    clean_engine.run_container(stack=RUN_STACK)
    wait_until(lambda: bus.get("LiveRunStacks")["data"] == [RUN_STACK], timeout=60, what="the live run stack")
    r = call_prune_now(bus, ignore_disk=True)
    assert r.returncode == 0, r.stderr
    outcome, reclaimed = json.loads(r.stdout)["data"]
    assert outcome.startswith("skipped"), outcome
    assert "run" in outcome, outcome
    assert reclaimed == 0
    assert exists(clean_engine, stopped)
    assert bus.get("LastPruneFinished")["data"] == 0


def test_prune_now_keeps_the_disk_gate_unless_asked(daemon, bus, clean_engine):
    stopped = clean_engine.run_container(state="exited")
    r = call_prune_now(bus, ignore_disk=False)
    assert r.returncode == 0, r.stderr
    outcome, reclaimed = json.loads(r.stdout)["data"]
    assert outcome.startswith("skipped") and "disk" in outcome, outcome
    assert reclaimed == 0
    assert exists(clean_engine, stopped)


def test_another_user_reads_but_cannot_call(cdp_bin, daemon, bus, clean_engine):
    stopped = clean_engine.run_container(state="exited")
    for prop in PROPERTIES:
        assert bus.get(prop, as_nobody=True) == bus.get(prop)
    if os.access(cdp_bin, os.X_OK, effective_ids=False) and os.stat(cdp_bin).st_mode & 0o001:
        r = subprocess.run([*NOBODY, cdp_bin, "status", "--json"], capture_output=True, text=True,
                           env=bus.env(), timeout=30)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["state"] == bus.get("State")["data"]
    for method, args in (("PruneNow", ["b", "true"]), ("Reload", [])):
        r = bus.busctl("call", NAME, PATH, IFACE, method, *args, as_nobody=True)
        assert r.returncode != 0
        assert "Access denied" in r.stderr, r.stderr
        # gdbus shows the raw error: dbus-daemon's policy refused it, the daemon never saw it.
        g = subprocess.run([*NOBODY, "gdbus", "call", "--system", "--dest", NAME, "--object-path", PATH,
                            "--method", f"{IFACE}.{method}", *(["true"] if args else [])],
                           capture_output=True, text=True, env=bus.env(HOME="/"), timeout=60)
        assert g.returncode != 0 and "Rejected send message" in g.stderr, g.stderr
    assert exists(clean_engine, stopped)
    # busctl shows any AccessDenied as "Access denied"; to see that the shipped policy (not
    # only the daemon's own CAP_SYS_ADMIN check) refuses, use a call the daemon would
    # answer differently: Set on a read-only property is refused by the policy for nobody,
    # and reaches the daemon (which says read-only) for root.
    r = bus.busctl("set-property", NAME, PATH, IFACE, "State", "s", "idle", as_nobody=True)
    assert r.returncode != 0 and "Access denied" in r.stderr, r.stderr
    r = bus.busctl("set-property", NAME, PATH, IFACE, "State", "s", "idle")
    assert r.returncode != 0 and "Access denied" not in r.stderr, r.stderr
    # root's Reload works.
    r = bus.busctl("call", NAME, PATH, IFACE, "Reload")
    assert r.returncode == 0, r.stderr


def test_properties_changed_reaches_any_subscriber(daemon, bus, clean_engine):
    mon = bus.monitor(as_nobody=True)
    try:
        clean_engine.run_container(stack=RUN_STACK)
        line = mon.wait_for(lambda l: "PropertiesChanged" in l and "LiveRunStacks" in l, timeout=60)
        assert RUN_STACK in line and IFACE in line
    finally:
        mon.stop()


def test_status_exits_3_without_daemon(cdp_bin, bus):
    r = status(cdp_bin, bus.env())
    assert r.returncode == 3
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "not running" in r.stderr, r.stderr
    r = status(cdp_bin, bus.env(), "--json")
    assert r.returncode == 3 and r.stdout == ""


def test_status_exits_3_without_bus(cdp_bin, tmp_path):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-such-socket")
    r = subprocess.run([cdp_bin, "status"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 3
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "system bus" in r.stderr, r.stderr


def test_daemon_returns_to_a_restarted_bus(daemon, bus):
    """dbus-daemon restarts (an upgrade): the daemon keeps running and owns the name again."""
    state = bus.get("State")["data"]
    bus.restart()
    # The daemon (started with the old address) must find the new bus at the same path.
    wait_until(lambda: daemon.proc.poll() is None and bus.busctl(
        "get-property", NAME, PATH, IFACE, "State").returncode == 0,
        timeout=60, what="the daemon to own its name on the restarted bus")
    assert bus.get("State")["data"] == state
    assert bus.get("DockerConnected")["data"] is True


# --- status: what the daemon runs with, and `status --check` per state (issue 12) ---------

def start_daemon(cdp_bin, bus, tmp_config, tmp_path, wait=True, **config):
    cfg = tmp_config(**config)
    d = Daemon(cdp_bin, cfg, bus, tmp_path / "daemon.log")
    if wait:
        d.wait_on_bus()
    return d, cfg


def check(cdp_bin, bus):
    r = status(cdp_bin, bus.env(), "--check")
    assert len(r.stdout.splitlines()) == 1 and r.stderr == "", (r.stdout, r.stderr)
    return r.returncode, r.stdout.strip()


def test_status_shows_config_version_dry_run_and_next_prune(cdp_bin, bus, clean_engine, tmp_config, tmp_path):
    d, cfg = start_daemon(cdp_bin, bus, tmp_config, tmp_path, docker={"host": clean_engine.host}, **CONFIG)
    try:
        version = subprocess.run([cdp_bin, "--version"], capture_output=True, text=True).stdout.split()[-1]
        doc = json.loads(status(cdp_bin, bus.env(), "--json").stdout)
        assert doc["version"] == version and doc["dry_run"] is False
        assert doc["config"]["path"] == str(cfg)
        assert re.fullmatch(r"[0-9a-f]{16}", doc["config"]["hash"]) and doc["config"]["changed_on_disk"] is False
        assert abs(doc["config"]["loaded_at_us"] / 1e6 - time.time()) < 120
        assert doc["disk"]["inode_threshold_percent"] == 100 and doc["stuck_services"] == [] and doc["warnings"] == []
        out = status(cdp_bin, bus.env()).stdout
        assert f"Config: {cfg}, loaded " in out and f"hash {doc['config']['hash']}" in out
        assert f"Version: {version}" in out and "Dry run: off" in out and "Stuck services: none" in out
        # Idle (disk below 100 %): nothing is scheduled, and status must not say "now".
        assert doc["state"] == "idle"
        assert "Next prune not before: now" not in out and "Next prune: now" not in out
        assert "Next prune: not scheduled: the disk is below the threshold" in out, out
        assert check(cdp_bin, bus)[0] == 0
        # The first record names the version and the config file.
        assert f"Starting ci-docker-prune {version} with {cfg}: docker {clean_engine.host}" in d.output(), d.output()

        # Edited but not reloaded: status says the file changed since.
        cfg.write_text(json.dumps({"docker": {"host": clean_engine.host}, **CONFIG,
                                   "prune": {**CONFIG["prune"], "dry_run": True}}))
        assert json.loads(status(cdp_bin, bus.env(), "--json").stdout)["config"]["changed_on_disk"] is True
        assert "the file has changed since" in status(cdp_bin, bus.env()).stdout
        # Reloaded: dry run on is a warning, everywhere.
        assert bus.busctl("call", NAME, PATH, IFACE, "Reload").returncode == 0
        wait_until(lambda: bus.get("DryRun")["data"] is True, timeout=30, what="DryRun after the reload")
        doc = json.loads(status(cdp_bin, bus.env(), "--json").stdout)
        assert doc["dry_run"] is True and doc["config"]["changed_on_disk"] is False
        assert any(w.startswith("dry_run: ") for w in doc["warnings"]), doc["warnings"]
        assert "Dry run: on" in status(cdp_bin, bus.env()).stdout
        code, line = check(cdp_bin, bus)
        assert code == 1 and line.startswith("WARNING: idle; dry_run: "), line
    finally:
        assert d.stop() == 0, d.output()


def test_status_check_critical_when_docker_is_unreachable(cdp_bin, bus, tmp_config, tmp_path):
    d, _ = start_daemon(cdp_bin, bus, tmp_config, tmp_path, wait=False,
                        docker={"host": f"unix://{tmp_path}/no-docker.sock"})
    try:
        wait_until(lambda: status(cdp_bin, bus.env()).returncode == 0, timeout=60, what="the daemon on the bus")
        code, line = check(cdp_bin, bus)
        assert code == 2 and line.startswith("CRITICAL: connecting; Docker unreachable"), line
        out = status(cdp_bin, bus.env()).stdout
        assert "Next prune: not scheduled: Docker unreachable" in out, out
    finally:
        assert d.stop() == 0, d.output()


def test_status_shows_an_unreadable_disk_as_unknown(cdp_bin, bus, clean_engine, tmp_config, tmp_path):
    d, cfg = start_daemon(cdp_bin, bus, tmp_config, tmp_path, wait=False, docker={"host": clean_engine.host},
                          disk={"path": f"{tmp_path}/no-such-dir"})
    try:
        wait_until(lambda: bus.busctl("get-property", NAME, PATH, IFACE, "DockerConnected").stdout.find("true") > 0,
                   timeout=60, what="Docker connected")
        doc = wait_until(lambda: (j := json.loads(status(cdp_bin, bus.env(), "--json").stdout))["warnings"] and j,
                         timeout=30, what="the disk_unknown warning")
        assert doc["disk"]["used_percent"] is None and doc["disk"]["inodes_used_percent"] is None, doc["disk"]
        # plan --json describes the same disk in the same shape.
        plan = subprocess.run([cdp_bin, "plan", "--json", "-c", str(cfg)],
                              capture_output=True, text=True, timeout=60)
        if plan.returncode == 0:
            assert set(json.loads(plan.stdout)["disk"]) == set(doc["disk"]), (plan.stdout, doc["disk"])
        out = status(cdp_bin, bus.env()).stdout
        assert "Disk: unknown" in out and "0.0%" not in out, out
        code, line = check(cdp_bin, bus)
        assert code == 2 and "disk_unknown: " in line and "|" not in line, line
    finally:
        assert d.stop() == 0, d.output()


def test_status_check_critical_over_threshold_with_no_prune_possible(cdp_bin, bus, clean_engine, tmp_config,
                                                                     tmp_path):
    # 0.001 %: any disk is over. Every step disabled: nothing can ever relieve it.
    d, _ = start_daemon(cdp_bin, bus, tmp_config, tmp_path, docker={"host": clean_engine.host},
                        disk={"threshold_percent": 0.001},
                        prune={"containers": False, "images": False, "build_cache": False})
    try:
        code, line = wait_until(lambda: (c := check(cdp_bin, bus))[0] == 2 and c, timeout=30,
                                what="status --check to turn critical")
        assert "no_prune_possible: " in line and line.startswith("CRITICAL: "), line
        # 0.001 % is valid but surely a mistake: the daemon says so at start (and runs).
        assert "disk.threshold_percent is 0.001: a percentage, not a fraction" in d.output(), d.output()
    finally:
        assert d.stop() == 0, d.output()


def test_still_full_says_what_the_disk_holds(cdp_bin, bus, clean_engine, tmp_config, tmp_path):
    """Over the threshold, the daemon prunes (containers only: the shared engine's images
    and build cache stay) and the disk stays full: still_full splits it with
    /system/df, the Warnings property carries it, and `status --check` warns."""
    d, _ = start_daemon(cdp_bin, bus, tmp_config, tmp_path, docker={"host": clean_engine.host},
                        disk={"threshold_percent": 0.001}, gates={"settle": "0s"},
                        prune={"until": "24h", "cooldown": "1h", "images": False, "build_cache": False})
    try:
        warnings = wait_until(lambda: [w for w in bus.get("Warnings")["data"] if w.startswith("still_full: ")],
                              timeout=120, what="the still_full warning on the bus")
        w = warnings[0]
        print(w)  # shown with pytest -rP
        assert "reclaimable later (younger than 24h)" in w and "kept by this policy" in w and "not Docker" in w, w
        assert "(images " in w and "volumes " in w and "build cache " in w, w
        code, line = check(cdp_bin, bus)
        assert code == 1 and "still_full: " in line, line
        assert "still_full" in d.output() and "not Docker" in d.output()
    finally:
        assert d.stop() == 0, d.output()


def test_status_check_unknown_without_daemon(cdp_bin, bus):
    r = status(cdp_bin, bus.env(), "--check")
    assert r.returncode == 3 and r.stdout.startswith("UNKNOWN: ") and len(r.stdout.splitlines()) == 1, r


def test_emergency_tier_and_its_last_episode_on_the_bus_and_in_status(cdp_bin, clean_engine, bus, tmp_config, tmp_path):
    """Issue 11: D-Bus and `status` show whether the tier is on and its last episode; the
    episode survives a restart in the state file (written here as the daemon writes it)."""
    state = Path(os.environ["STATE_DIRECTORY"]) / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    finished_us = int((time.time() - 600) * 1e6)
    state.write_text(json.dumps({"last_emergency": {"finished_us": finished_us, "evicted": 3,
                                                    "reclaimed_bytes": 12582912, "ended": "target_reached",
                                                    "dry_run": False}}))
    cfg = tmp_config(docker={"host": clean_engine.host}, emergency={"enabled": True}, **CONFIG)
    d = Daemon(cdp_bin, cfg, bus, tmp_path / "daemon.log")
    try:
        d.wait_on_bus()
        assert bus.get("EmergencyEnabled")["data"] is True
        assert bus.get("LastEmergencyFinished")["data"] == finished_us
        assert bus.get("LastEmergencyEvicted")["data"] == 3
        assert bus.get("LastEmergencyReclaimedBytes")["data"] == 12582912
        assert bus.get("LastEmergencyEnded")["data"] == "target_reached"
        assert bus.get("LastEmergencyDryRun")["data"] is False

        doc = json.loads(status(cdp_bin, bus.env(), "--json").stdout)
        em = doc["emergency"]
        assert em["enabled"] is True
        assert em["last_episode"]["finished_us"] == finished_us
        assert em["last_episode"]["evicted"] == 3 and em["last_episode"]["reclaimed_bytes"] == 12582912
        assert em["last_episode"]["ended"] == "target_reached" and em["last_episode"]["dry_run"] is False
        out = status(cdp_bin, bus.env()).stdout
        line = next(l for l in out.splitlines() if l.startswith("Emergency tier:"))
        assert line.startswith("Emergency tier: on; last episode 10m ago: evicted 3 images (12.6 MB), target_reached"), line
    finally:
        assert d.stop() == 0, d.output()


def test_emergency_tier_off_by_default_on_the_bus(daemon, bus, cdp_bin):
    assert bus.get("EmergencyEnabled")["data"] is False
    assert bus.get("LastEmergencyFinished")["data"] == 0
    assert bus.get("LastEmergencyEnded")["data"] == ""
    doc = json.loads(status(cdp_bin, bus.env(), "--json").stdout)
    assert doc["emergency"] == {"enabled": False, "last_episode": None}
    assert "Emergency tier: off" in status(cdp_bin, bus.env()).stdout
