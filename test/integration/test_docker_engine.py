"""The test engine itself (conftest.py + scripts/private-dockerd.sh): everyone's
integration tests stand on it, so its promises are checked here against the real dockerd.
Owns no product behaviour."""
import hashlib
import subprocess
from pathlib import Path

from conftest import IMAGE, RUN_STACK, STACK_LABEL, wait_until


def test_engine_has_swarm_and_images(engine):
    info = engine.get_json("/info")
    assert info["Swarm"]["LocalNodeState"] == "active"
    assert info["Swarm"]["ControlAvailable"] is True
    assert info["DockerRootDir"] == str(engine.dir / "root")
    tags = {t for img in engine.get_json("/images/json") for t in (img["RepoTags"] or [])}
    assert {IMAGE, "local/busybox:latest"} <= tags
    version = engine.get_json("/version")
    assert version["ApiVersion"] == "1.41"


def test_service_with_stack_label_runs(clean_engine):
    eng = clean_engine
    name = eng.create_service("web", stack=RUN_STACK, replicas=2)
    assert name == f"{RUN_STACK}_web"
    (svc,) = [s for s in eng.get_json("/services?status=true") if s["Spec"]["Name"] == name]
    assert svc["Spec"]["Labels"][STACK_LABEL] == RUN_STACK
    assert svc["ServiceStatus"]["RunningTasks"] == 2
    running = eng.get_json("/containers/json?filters=" + eng.filters(label=[f"{STACK_LABEL}={RUN_STACK}"]))
    assert len(running) == 2 and all(c["State"] == "running" for c in running)
    eng.remove_service(name)
    assert eng.service_status(name) == {}


def test_unsatisfiable_service_stays_pending(clean_engine):
    eng = clean_engine
    name = eng.create_service(constraint="node.labels.nope==1")
    tasks = wait_until(lambda: eng.get_json("/tasks?filters=" + eng.filters(service=[name])),
                       timeout=30, what="a task to be scheduled")
    assert tasks[0]["Status"]["State"] == "pending"
    st = eng.service_status(name)
    assert (st["RunningTasks"], st["DesiredTasks"]) == (0, 1)


def test_container_states(clean_engine):
    eng = clean_engine
    running = eng.run_container(labels={"x": "1"})
    exited = eng.run_container(state="exited")
    created = eng.run_container(state="created")
    # A status filter without all=1 still lists non-running containers (lib/docker relies on it).
    got = {c["Id"]: c["State"] for c in eng.get_json(
        "/v1.41/containers/json?filters=" + eng.filters(status=["exited", "created"]))}
    assert got == {exited: "exited", created: "created"}
    assert running not in got


def test_dangling_image_can_be_made_and_backdated(engine):
    image_id = engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    dangling = engine.get_json("/images/json?filters=" + engine.filters(dangling=["true"]))
    (img,) = [i for i in dangling if i["Id"] == image_id]
    assert img["Created"] == 1577836800


def test_build_cache_is_filled(engine):
    assert engine.build_with_cache() > 0


def test_tmp_config_writes_json(tmp_config):
    path = tmp_config(docker={"host": "unix:///x.sock"}, prune={"until": "1s"})
    import json
    assert json.loads(Path(path).read_text()) == {"docker": {"host": "unix:///x.sock"},
                                                  "prune": {"until": "1s"}}


def test_two_engines_and_a_clean_stop(engine_factory):
    """A second engine runs beside the session one (own netns), restarts keeping its
    swarm, and stop leaves no process and no mount under its directory."""
    eng = engine_factory()
    assert eng.get_json("/info")["Swarm"]["LocalNodeState"] == "active"
    name = eng.create_service()
    eng.restart()
    assert eng.get_json("/info")["Swarm"]["LocalNodeState"] == "active"
    wait_until(lambda: eng.service_status(name).get("RunningTasks") == 1, timeout=90,
               what="the service to run again after the restart")
    eng.stop()
    assert not Path(eng.socket).exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(eng.dir) + "/" not in mounts
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(eng.dir) + "/" not in ps
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    ns_name = "cdp-" + hashlib.sha1(str(eng.dir).encode()).hexdigest()[:12]  # as the script names it
    assert ns_name not in netns


def test_real_events_stream_is_chunked_and_truncated_on_shutdown(engine_factory):
    """What lib/docker/events.cpp (and its fake-socket test) assume of the real engine:
    /events is chunked, one JSON object per line, and a dockerd shutdown ends it
    without the final 0-length chunk (FACTS)."""
    import socket
    eng = engine_factory(CDP_DOCKERD_NO_IMAGES="1")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(eng.socket)
    s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding: chunked" in head
    eng.docker("network", "create", "--driver", "bridge", "cdp-probe")  # one event
    body = head.split(b"\r\n\r\n", 1)[1]
    eng.stop()
    while True:
        data = s.recv(65536)
        if not data:
            break
        body += data
    assert b'"Type":"network"' in body and b'"Action":"create"' in body
    assert not body.endswith(b"0\r\n\r\n"), "the engine sent a final chunk after all"
