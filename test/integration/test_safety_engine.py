"""Issue 7 on a real private engine: never prune on a stale or partial view.

- a locked swarm (autolock + engine restart) prunes nothing; after unlock, `blocked`
  names the still-deployed run stack;
- a hung /events stream (dockerproxy.py freezes it) with a compose run stack coming up
  prunes nothing (the confirm-before-acting list catches it); a prune follows once the
  stack goes;
- a restart-policy container that crash-loops keeps `runs` closed;
- a second daemon (same lock folder, or same bus) exits 1 with one line and sends
  nothing to Docker.
Negative checks ("nothing pruned") watch for a bounded time while the daemon has every
chance to prune: the disk is over the threshold and settle is 0 s.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time

import pytest

from busfix import NAME, PrivateBus
from busfix import Daemon as BusDaemon
from conftest import IMAGE, RUN_STACK, wait_until
from dockerproxy import DockerProxy
from test_daemon import TMPFS_MB, config_for, daemon_factory, image_exists, tmpfs, write_config  # noqa: F401

COMPOSE_LABEL = "com.docker.compose.project"


def never(predicate, seconds, what):
    """Asserts that `predicate` stays false for `seconds` (checked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not predicate(), what
        time.sleep(0.2)


def container_exists(engine, cid):
    return engine.api("GET", f"/containers/{cid}/json").status == 200


def test_locked_swarm_prunes_nothing_until_unlocked(engine_factory, tmpfs, daemon_factory, tmp_path):
    engine = engine_factory()
    dangling = engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    svc = engine.create_service(stack=RUN_STACK)
    wait_until(lambda: engine.service_status(svc).get("RunningTasks") == 1, 60, "the run service's task running")
    # A prune witness of the run stack: exited (not live), so it holds nothing itself, and
    # any container prune removes it. (The service's own task containers are gone after
    # this engine's restart on dockerd 20.10.24 here, not left exited as FACTS says.)
    witness = engine.run_container(state="exited", stack=RUN_STACK)
    # Autolock (FACTS: POST /swarm/update with EncryptionConfig.AutoLockManagers=true).
    swarm = engine.get_json("/swarm")
    spec = swarm["Spec"]
    spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = True
    r = engine.api("POST", f"/swarm/update?version={swarm['Version']['Index']}", body=spec)
    assert r.status == 200, r
    key = engine.get_json("/swarm/unlockkey")["UnlockKey"]
    assert key

    tmpfs.fill(TMPFS_MB * 6 // 10)  # 60% >= 50%
    d = daemon_factory(write_config(tmp_path / "c.json", config_for(engine, tmpfs)))
    d.wait_ready()
    d.wait_status(lambda s: s.startswith("blocked:") and RUN_STACK in s, what="blocked by the run stack")

    engine.restart()
    info = engine.get_json("/info")
    assert info["Swarm"]["LocalNodeState"] == "locked", info["Swarm"]
    assert engine.api("GET", "/services").status == 503
    # The old daemon read the 503 as "not a manager": no live run container left, runs
    # open, and it pruned the stack's exited container while the stack was deployed.
    d.wait_status(lambda s: s.startswith("blocked:") and "swarm is locked" in s, timeout=90,
                  what="blocked: swarm locked")
    never(lambda: "CDP_EVENT=prune_start" in d.log() or not container_exists(engine, witness), 10,
          f"a prune while the swarm is locked:\n{d.log()}")
    assert image_exists(engine, dangling)

    r = engine.api("POST", "/swarm/unlock", body={"UnlockKey": key})
    assert r.status == 200, r
    # The locked state emits nothing we watch: the daemon looks again with backoff (<= 5 s,
    # policy/watch_core.hpp ConvergencePoll::kRetryMax).
    d.wait_status(lambda s: s.startswith("blocked:") and f"run stack {RUN_STACK} live" in s, timeout=90,
                  what="blocked naming the run stack after unlock")
    assert "CDP_EVENT=prune_start" not in d.log()
    assert image_exists(engine, dangling)
    assert container_exists(engine, witness)


@pytest.fixture
def proxy(clean_engine):
    p = DockerProxy(clean_engine.socket)
    yield p
    p.close()


def test_hung_event_stream_prunes_nothing_while_a_compose_run_is_up(clean_engine, proxy, tmpfs, daemon_factory,
                                                                    tmp_path):
    """Needs the confirm-before-acting list before each prune (issue 7 item 1, the
    scheduler's): the frozen stream alone cannot show the new container."""
    engine = clean_engine
    dangling = engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    cfg = config_for(engine, tmpfs)
    cfg["docker"]["host"] = proxy.host
    d = daemon_factory(write_config(tmp_path / "c.json", cfg))
    d.wait_ready()
    d.wait_status(lambda s: s.startswith("idle:") and "no run stack live" in s, what="idle")
    assert proxy.sent("GET", "/events"), proxy.requests

    proxy.freeze_events()
    cid = engine.run_container(state="created", labels={COMPOSE_LABEL: RUN_STACK})
    tmpfs.fill(TMPFS_MB * 6 // 10)
    # The stale model sees every gate open; the fresh list right before the first step
    # sees the created run container: nothing is sent, and the model learns it.
    d.wait_status(lambda s: s.startswith("blocked:") and RUN_STACK in s, timeout=60,
                  what="blocked by the compose run stack after the confirmation list")
    never(lambda: proxy.prunes(), 5, f"a prune request while the run is up: {proxy.prunes()}\n{d.log()}")
    assert container_exists(engine, cid)
    assert image_exists(engine, dangling)

    engine.docker("rm", "-f", cid)
    proxy.thaw_events()  # the hang ends: the daemon reconnects and re-lists
    wait_until(lambda: proxy.prunes(), 90, "a prune once the run stack is gone")
    wait_until(lambda: not image_exists(engine, dangling), 60, "the dangling image pruned")


def test_crash_looping_restart_policy_container_keeps_runs_closed(clean_engine, tmpfs, daemon_factory, tmp_path):
    engine = clean_engine
    dangling = engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    cid = engine.docker_out("run", "-d", "--restart", "always", "--label", f"{COMPOSE_LABEL}={RUN_STACK}",
                            IMAGE, "sh", "-c", "sleep 1; exit 1")
    tmpfs.fill(TMPFS_MB * 6 // 10)
    d = daemon_factory(write_config(tmp_path / "c.json", config_for(engine, tmpfs)))
    d.wait_ready()
    d.wait_status(lambda s: s.startswith("blocked:") and RUN_STACK in s, what="blocked by the crash-looping run")
    # ~20 s of die/restart cycles (Docker's restart delay doubles from 100 ms): each die
    # must leave the container live until Docker says it is not restarting.
    wait_until(lambda: engine.get_json(f"/containers/{cid}/json")["RestartCount"] >= 3, 60,
               "a few restarts")
    never(lambda: "CDP_EVENT=prune_start" in d.log(), 20, f"a prune during the crash loop:\n{d.log()}")
    assert image_exists(engine, dangling)
    assert engine.get_json(f"/containers/{cid}/json")["RestartCount"] >= 4
    assert not any(s.startswith(("settling", "pruning")) for s in d.notify.statuses()), d.notify.statuses()

    # Positive control: once it is gone, the prune happens.
    engine.docker("rm", "-f", cid)
    wait_until(lambda: not image_exists(engine, dangling), 60, "the prune once the crash loop is gone")


@pytest.fixture
def bus():
    if not shutil.which("dbus-daemon") or not shutil.which("busctl"):
        pytest.skip("needs dbus-daemon and busctl")
    b = PrivateBus()
    yield b
    b.stop()


def test_second_daemon_exits_1_naming_the_first_and_sends_nothing(cdp_bin, clean_engine, bus, tmp_config,
                                                                  tmp_path):
    first_cfg = tmp_config(docker={"host": clean_engine.host},
                           disk={"threshold_percent": 100, "inode_threshold_percent": 100})
    shared_run = tmp_path / "run"
    first = BusDaemon(cdp_bin, first_cfg, bus, tmp_path / "first.log", env={"RUNTIME_DIRECTORY": str(shared_run)})
    try:
        first.wait_on_bus()
        assert (shared_run / "daemon.lock").read_text().strip() == str(first.proc.pid)
        proxy = DockerProxy(clean_engine.socket)
        try:
            second_cfg = tmp_config(docker={"host": proxy.host},
                                    disk={"threshold_percent": 100, "inode_threshold_percent": 100})

            def second(run_dir):
                env = bus.env(RUNTIME_DIRECTORY=str(run_dir))
                return subprocess.run([cdp_bin, "daemon", "-c", str(second_cfg)], capture_output=True, text=True,
                                      env=env, timeout=60)

            # Same lock folder: the lock, taken before anything else, names the holder's pid.
            r = second(shared_run)
            assert r.returncode == 1, r
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert f"(pid {first.proc.pid})" in lines[0] and "daemon.lock" in lines[0], lines[0]

            # A bad config beside the running daemon is still a config error (exit 2, the
            # key named), not "another daemon": the config is read before the lock.
            bad_cfg = tmp_path / "bad.json"
            bad_cfg.write_text('{"prune": {"cooldown": "soon"}}')
            r = subprocess.run([cdp_bin, "daemon", "-c", str(bad_cfg)], capture_output=True, text=True,
                               env=bus.env(RUNTIME_DIRECTORY=str(shared_run)), timeout=60)
            assert r.returncode == 2, r
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "prune.cooldown" in lines[0], r.stderr

            # Another lock folder (a daemon started by hand elsewhere): the bus name, taken
            # without queueing, names its owner -- unique name and pid.
            r = second(tmp_path / "other-run")
            assert r.returncode == 1, r
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert NAME in lines[0] and f"(pid {first.proc.pid})" in lines[0] and ":1." in lines[0], lines[0]

            assert proxy.requests == [], f"the second daemon talked to Docker: {proxy.requests}"
        finally:
            proxy.close()
        assert first.proc.poll() is None, "the first daemon must keep running"
        assert json.loads(bus.busctl("get-property", NAME, "/net/commoninternet/CiDockerPrune1",
                                     "net.commoninternet.CiDockerPrune1.Manager", "DockerConnected").stdout)["data"]
    finally:
        rc = first.stop()
        assert rc == 0, f"first daemon exit {rc}:\n{first.output()}"


def test_bus_absent_at_start_is_retried(cdp_bin, clean_engine, bus, tmp_config, tmp_path):
    """The system bus comes up after the daemon (boot order, a dbus restart): the daemon
    keeps running and takes its name once the bus is there (it used to give up for good)."""
    bus.proc.terminate()
    bus.proc.wait(timeout=10)
    # dbus-daemon removes its socket on a clean exit, but not always before wait()
    # returns: remove it if it is still there (the daemon must find no bus at all).
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(bus.dir, "system_bus_socket"))
    cfg = tmp_config(docker={"host": clean_engine.host},
                     disk={"threshold_percent": 100, "inode_threshold_percent": 100})
    d = BusDaemon(cdp_bin, cfg, bus, tmp_path / "daemon.log")
    try:
        wait_until(lambda: "Failed to connect to the system bus" in d.output(), 30, "the bus failure logged")
        assert d.proc.poll() is None, d.output()
        bus._start()  # same socket path, as a dbus-daemon started later would have
        d.wait_on_bus(timeout=60)
        assert "Connected to the system bus" in d.output()
    finally:
        rc = d.stop()
        assert rc == 0, f"daemon exit {rc}:\n{d.output()}"


def test_reload_to_another_engine_never_ends_on_the_old_one(clean_engine, engine_factory, proxy, tmpfs,
                                                            daemon_factory, tmp_path):
    """docker.host changes on SIGHUP: the model is the new engine's, and nothing more is
    asked of the old one (a session or list still in flight for it drops its result)."""
    import signal
    old, new = clean_engine, engine_factory()
    cid = old.run_container(state="running", stack=RUN_STACK)
    cfg = config_for(old, tmpfs, threshold=90)
    cfg["docker"]["host"] = proxy.host
    path = write_config(tmp_path / "c.json", cfg)
    d = daemon_factory(path)
    d.wait_ready()
    d.wait_status(lambda s: RUN_STACK in s and not s.startswith("connecting"), what="the old engine's run stack")

    cfg["docker"]["host"] = new.host
    write_config(path, cfg)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("Reconnecting to Docker at " + new.host)
    d.wait_status(lambda s: s.startswith("idle:") and "no run stack live" in s, what="the new engine's view")
    asked = len(proxy.requests)
    # The old engine still has its run container and answers: a late list from it would
    # bring the run stack back into STATUS.
    never(lambda: RUN_STACK in d.notify.status() or len(proxy.requests) != asked, 5,
          f"the daemon went back to the old engine: {proxy.requests[asked:]}\n{d.log()}")
    old.docker("rm", "-f", cid)
