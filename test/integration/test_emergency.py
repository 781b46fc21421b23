"""The emergency tier on a real private engine with a small disk (issue 11): the fixture
is 6 tagged images with a known last-use order (containers created and removed while the
daemon runs), one matching `keep`, one only a service's previous spec names, one a stopped
container uses, one loaded seconds ago, and a two-tag image; the disk is the engine's own
tmpfs data-root, filled over `critical_percent`. Expected: exactly the eligible images go,
least recently used first, both tags of the two-tag one, and it stops at `target_percent`.
Also: dry-run, the tier disabled, a restart keeping the order, and, with every DELETE held
at a proxy (dockerproxy.py) so the episode is mid-eviction for as long as the test wants,
a run stack going live (the episode stops) and SIGTERM (the DELETE's answer is awaited).

Thresholds are computed from the measured disk so that exactly three evictions reach the
target: critical = U0 + 2.5 P, target = U0 + 0.5 P, with U0 the usage before the fill,
P the payload of each image, and a fill of 3 P.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from conftest import RUN_STACK, _image_tar, wait_until
from dockerproxy import DockerProxy
from test_daemon import daemon_factory, write_config  # noqa: F401 (fixture)

PAYLOAD = 4 * 1024 * 1024
CREATED = "2020-01-01T00:00:00Z"  # old build dates: last use must not come from them
MIN_AGE_S = 15


def build_runnable(eng, tag, tmp_path):
    """An image FROM local/busybox:1 (runnable: services and containers can start it)."""
    ctx = tmp_path / ("ctx-" + re.sub(r"[^a-z0-9]", "-", tag))
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM local/busybox:1\nCOPY stamp /stamp\n")
    (ctx / "stamp").write_text(f"{tag} {time.time_ns()}\n")
    eng.docker("build", "-q", "-t", tag, str(ctx))


def load(eng, tag, size):
    out = eng.docker_out("load", input=_image_tar(tag, CREATED, os.urandom(size)))
    assert "Loaded image" in out, out


def exists(eng, ref):
    return eng.api("GET", f"/images/{ref}/json").status == 200


def disk_of(path):
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return used, used + st.f_bavail * st.f_frsize


def evict_records(log):
    return [line for line in log.splitlines() if "CDP_EVENT=emergency_evict" in line]


def field(line, name):
    m = re.search(rf"\b{name}=(\S+)", line)
    return m.group(1) if m else None


ALL_TAGGED = ("local/a:1", "local/b:1", "local/b:latest", "local/c:1", "local/d:1", "local/e:1",
              "local/f:1", "ci/base:1", "local/prev:1", "local/run:2", "local/stopped:1",
              "local/young:1", "local/busybox:1")


def run_fixture(engine_factory, daemon_factory, tmp_path, restart=False, proxy=None, during=None, **emergency):
    """Builds the issue's fixture, runs a daemon over it, fills the disk, waits for the
    prune (and, when enabled, the episode). With `restart`, the daemon that saw the uses is
    stopped (SIGTERM) and a new one started before the fill. With `proxy` (a list), the
    daemon talks to Docker through a DockerProxy appended to it, which holds every DELETE
    /images until released; `during(eng, d)` runs right after the fill. Returns (engine, daemon)."""
    eng = engine_factory(CDP_DOCKERD_TMPFS_SIZE="192m")
    root = eng.get_json("/info")["DockerRootDir"]

    # The fixture, before the daemon starts (so every image is first seen at its start).
    for tag in ("local/prev:1", "local/run:2", "local/stopped:1"):
        build_runnable(eng, tag, tmp_path)
    for tag in ("local/a:1", "local/b:1", "local/c:1", "local/d:1", "local/e:1", "local/f:1", "ci/base:1"):
        load(eng, tag, PAYLOAD)
    eng.docker("tag", "local/b:1", "local/b:latest")  # the two-tag image
    svc = eng.create_service(name="emsvc", image="local/prev:1")
    eng.docker("service", "update", "--detach", "--no-resolve-image", "--image", "local/run:2", svc)
    wait_until(lambda: any(s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "local/run:2"
                           and (s.get("UpdateStatus") or {}).get("State") == "completed"
                           and s["ServiceStatus"]["RunningTasks"] == 1
                           for s in eng.get_json("/services?status=true")),
               90, "the service update to local/run:2 to complete")
    # Swarm keeps the old task's container: remove it, so only PreviousSpec names local/prev:1.
    old = eng.get_json("/containers/json?all=1&filters=" + eng.filters(ancestor=["local/prev:1"]))
    for c in old:
        eng.docker("rm", "-f", c["Id"])
    eng.run_container(state="exited", image="local/stopped:1")

    # Thresholds from the measured disk (see the module docstring).
    u0, total = disk_of(root)
    pct = lambda b: round(100.0 * b / total, 3)  # noqa: E731
    critical, target, threshold = pct(u0 + 2.5 * PAYLOAD), pct(u0 + 0.5 * PAYLOAD), pct(u0 + 2.2 * PAYLOAD)
    cfg = {"docker": {"host": eng.host},
           "disk": {"threshold_percent": threshold, "inode_threshold_percent": 100, "poll_interval": "1s"},
           "gates": {"settle": "0s"},
           "prune": {"until": "1s", "containers": False, "build_cache": False},
           "emergency": {"enabled": True, "critical_percent": critical, "target_percent": target,
                         "keep": ["^local/busybox:", "^local/built:", "^ci/base:"],
                         "min_age": f"{MIN_AGE_S}s", **emergency.pop("emergency", {})},
           "log": {"level": "debug"}}
    for section, values in emergency.items():
        cfg.setdefault(section, {}).update(values)
    if proxy is not None:
        proxy.append(DockerProxy(eng.socket))
        cfg["docker"]["host"] = proxy[-1].host
        # Only the episode sends DELETE /images: each is held until the test releases it.
        proxy[-1].hold("DELETE", "/images/")
    d = daemon_factory(write_config(tmp_path / "c.json", cfg))
    d.wait_ready()
    d.wait_log("images for the emergency tier's last uses")

    # The known last-use order: a container created and removed from each, a .. f.
    for tag in ("local/a:1", "local/b:1", "local/c:1", "local/d:1", "local/e:1", "local/f:1"):
        cid = eng.docker_out("create", tag, "true")
        eng.docker("rm", cid)
    last_use = time.time()
    wait_until(lambda: time.time() > last_use + MIN_AGE_S + 1, MIN_AGE_S + 30, "min_age to pass")
    if restart:
        d.stop()
        d = daemon_factory(tmp_path / "c.json")
        d.wait_ready()
        d.wait_log("images for the emergency tier's last uses")
    load(eng, "local/young:1", 1024)  # tagged seconds ago

    (Path(root) / "fill").write_bytes(b"\0" * (3 * PAYLOAD))
    if during:
        during(eng, d)
    d.wait_log("CDP_EVENT=prune_done", timeout=120)
    if cfg["emergency"]["enabled"]:
        d.wait_log("CDP_EVENT=emergency_done", timeout=120)
    return eng, d


def test_emergency_evicts_exactly_the_eligible_images_lru_first(engine_factory, daemon_factory, tmp_path):
    textfile = tmp_path / "metrics.prom"
    eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, metrics={"textfile": str(textfile)})
    log = d.log()
    # The metrics count each image removed (written at most once a second after a change).
    wait_until(lambda: textfile.exists() and "ci_docker_prune_emergency_evictions_total 3"
               in textfile.read_text(), 30, "the eviction counter at 3 in the metrics textfile")
    assert "CDP_EVENT=emergency_start" in log, log

    evicted = [field(line, "CDP_IMAGE") for line in evict_records(log)]
    assert len(evicted) == 3, log
    assert evicted[0] == "local/a:1", log
    assert sorted(evicted[1].split(",")) == ["local/b:1", "local/b:latest"], log
    assert evicted[2] == "local/c:1", log
    done = [line for line in log.splitlines() if "CDP_EVENT=emergency_done" in line][0]
    assert field(done, "CDP_REASON") == "target_reached", log
    for line in evict_records(log):
        assert field(line, "CDP_OUTCOME") == "removed", line
        assert field(line, "CDP_LAST_USED"), line

    for gone in ("local/a:1", "local/b:1", "local/b:latest", "local/c:1"):
        assert not exists(eng, gone), gone
    for kept in ALL_TAGGED[4:]:
        assert exists(eng, kept), kept

    # The last uses survive in the state file, in the order they were made.
    state = json.loads((Path(os.environ["STATE_DIRECTORY"]) / "state.json").read_text())
    uses = state["image_last_use"]
    ids = {t: eng.get_json(f"/images/{t}/json")["Id"] for t in ("local/d:1", "local/e:1", "local/f:1")}
    assert uses[ids["local/d:1"]] < uses[ids["local/e:1"]] < uses[ids["local/f:1"]], uses


def test_emergency_dry_run_lists_in_order_and_removes_nothing(engine_factory, daemon_factory, tmp_path):
    eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, prune={"dry_run": True})
    log = d.log()
    records = evict_records(log)
    assert records, log
    assert all(field(line, "CDP_OUTCOME") == "dry_run" and "Would evict" in line for line in records), log
    assert field(records[0], "CDP_IMAGE") == "local/a:1", log
    for tag in ALL_TAGGED:
        assert exists(eng, tag), tag


def test_emergency_disabled_removes_nothing_tagged(engine_factory, daemon_factory, tmp_path):
    eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, emergency={"enabled": False})
    log = d.log()
    assert "CDP_EVENT=emergency_" not in log, log
    for tag in ALL_TAGGED:
        assert exists(eng, tag), tag


def test_emergency_restart_keeps_the_last_use_order(engine_factory, daemon_factory, tmp_path):
    # Had the order been lost, every image would be first seen at the restart: too young.
    eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, restart=True)
    log = d.log()
    evicted = [field(line, "CDP_IMAGE") for line in evict_records(log)]
    assert len(evicted) == 3 and evicted[0] == "local/a:1" and evicted[2] == "local/c:1", log
    assert not exists(eng, "local/a:1") and exists(eng, "local/d:1")


def test_emergency_a_run_stack_going_live_mid_episode_stops_it(engine_factory, daemon_factory, tmp_path):
    """The first DELETE (local/a:1) is held at a proxy in front of Docker, so the episode is
    mid-eviction for as long as the test wants; meanwhile a compose run stack's container
    is created (state `created`, never started). Once Docker answers, the gates confirmed
    before the next eviction are closed: the episode stops there, every other candidate is
    kept, and no other DELETE is sent."""
    proxies = []

    def during(eng, d):
        wait_until(lambda: proxies[0].holding, 120, "the first DELETE /images to reach Docker")
        assert len(proxies[0].holding) == 1, proxies[0].holding
        eng.run_container(state="created", labels={"com.docker.compose.project": RUN_STACK})
        proxies[0].release()

    try:
        eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, proxy=proxies, during=during)
        log = d.log()
        evicted = [field(line, "CDP_IMAGE") for line in evict_records(log)]
        assert evicted == ["local/a:1"], log
        done = [line for line in log.splitlines() if "CDP_EVENT=emergency_done" in line]
        assert len(done) == 1, log
        assert field(done[0], "CDP_REASON") == "gate_closed", done[0]
        assert RUN_STACK in done[0], done[0]
        deletes = proxies[0].sent("DELETE")
        assert len(deletes) == 1 and deletes[0][1].endswith("/images/local/a:1"), deletes
        assert not exists(eng, "local/a:1")
        for kept in ("local/b:1", "local/b:latest", "local/c:1", "local/d:1", "local/e:1", "local/f:1"):
            assert exists(eng, kept), kept
    finally:
        for p in proxies:
            p.release()
            p.close()


def test_emergency_sigterm_waits_for_the_delete_in_flight(engine_factory, daemon_factory, tmp_path):
    """SIGTERM while Docker is still answering a DELETE (held at the proxy): the daemon
    does not exit until the answer came, records it, ends the episode with `stopping` and
    sends no other DELETE; then exits 0."""
    proxies = []

    def during(eng, d):
        wait_until(lambda: proxies[0].holding, 120, "the first DELETE /images to reach Docker")
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log("Stopping after the image removal in flight")
        # The DELETE is held: the daemon cannot have its answer, so it must still run.
        assert d.proc.poll() is None, d.log()
        proxies[0].release()
        assert d.proc.wait(timeout=60) == 0, d.log()

    try:
        eng, d = run_fixture(engine_factory, daemon_factory, tmp_path, proxy=proxies, during=during)
        log = d.log()
        evicted = [field(line, "CDP_IMAGE") for line in evict_records(log)]
        assert evicted == ["local/a:1"], log
        assert field(evict_records(log)[0], "CDP_OUTCOME") == "removed", log
        done = [line for line in log.splitlines() if "CDP_EVENT=emergency_done" in line]
        assert len(done) == 1 and field(done[0], "CDP_REASON") == "stopping", log
        assert len(proxies[0].sent("DELETE")) == 1
        assert not exists(eng, "local/a:1") and exists(eng, "local/b:1")
    finally:
        for p in proxies:
            p.release()
            p.close()
