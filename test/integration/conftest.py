"""Shared pytest fixtures for the integration tests: a real, private Docker engine.

Owns: starting/stopping private dockerds (scripts/private-dockerd.sh: own netns, swarm
active, offline images local/busybox:1 + :latest, build cache warm), helpers that put
the engine into the states the gates care about, and `cdp_bin` / `tmp_config`. Must not
know anything about ci-docker-prune's behaviour: tests assert that, not this file.

Fixtures
  cdp_bin          path of the binary: $CDP_BIN, else <repo>/build/ci-docker-prune.
  engine           (session) one shared engine. Tests that add services/containers must
                   remove them (or use `clean_engine`); never stop it (use engine_factory).
  clean_engine     (function) the shared engine after engine.reset(): no services, no containers.
  engine_factory   (function) engine_factory(**env) -> a NEW private engine, stopped and
                   purged at the end of the test (for restarts, kills, tmpfs data-roots:
                   engine_factory(CDP_DOCKERD_TMPFS_SIZE="64m")).
  tmp_config       tmp_config(**sections) -> Path of a JSON config file, e.g.
                   tmp_config(docker={"host": engine.host}, prune={"until": "1s"}).

Engine (see the class): .dir .socket .host, .docker(*args) / .docker_out(*args) run the
20.10 CLI (/usr/bin/docker; the 28.x one in /usr/local/bin needs buildx for BuildKit),
.api(method, path, body) raw HTTP over the socket, create_service / remove_service /
run_container / make_dangling_image / build_with_cache / reset / restart / stop,
and wait_until(predicate, timeout, what).

Everything waits on conditions (wait_until), never on fixed sleeps.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "private-dockerd.sh"
DOCKER_CLI = os.environ.get("CDP_DOCKER_CLI", "/usr/bin/docker")
IMAGE = "local/busybox:1"
RUN_STACK = "abcd-1a2b3c_ci_commoninternet_net"  # matches the default gates.run_stacks
STACK_LABEL = "com.docker.stack.namespace"
# A long sleeper that exits on SIGTERM: `sleep` as PID 1 ignores it, and every stop or
# service removal would then wait out the 10 s grace period.
SLEEPER = ("sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait")


def default_signals():
    """preexec_fn for children a test signals: SIGHUP, SIGTERM and SIGINT at their
    default disposition. Under `nohup` (or a CI runner that ignores them) children inherit
    "ignored", and a non-interactive shell cannot trap a signal ignored at entry: the
    test then waits for an answer that never comes (issue 12)."""
    for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL)


def read_line(stream, timeout):
    """stream.readline() that gives up after `timeout` s (AssertionError), stripped."""
    got = []
    t = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError(f"no line within {timeout}s")
    return got[0].strip()


def stop_process(proc, timeout=30):
    """SIGTERM a child, wait up to `timeout` s, then SIGKILL; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_until(predicate, timeout=60.0, what="condition", interval=0.1):
    """Polls predicate() until it returns something truthy, and returns that.
    Raises AssertionError naming `what` (and the last exception, if any) after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - reported below if it never succeeds
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


class DockerCLIError(RuntimeError):
    pass


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body  # bytes

    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"ApiResponse({self.status}, {self.body[:200]!r})"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _image_tar(tag, created, payload):
    """A `docker save`-format tarball of a one-layer image with a chosen Created time
    (import cannot backdate; prune's `until` compares Created)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("payload")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "cdp test"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["layer/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in (("layer/layer.tar", layer_bytes), (config_name, config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Engine:
    """A private dockerd started by scripts/private-dockerd.sh in `dir`."""

    def __init__(self, directory, env=None):
        self.dir = Path(directory)
        self.socket = str(self.dir / "docker.sock")
        self.host = "unix://" + self.socket
        self._env = dict(env or {})
        self._counter = 0
        self.start_seconds = None

    # --- lifecycle -------------------------------------------------------------------
    def _script(self, verb):
        env = {**os.environ, **self._env, "DOCKER_CLI": DOCKER_CLI}
        return subprocess.run(["bash", str(SCRIPT), verb, str(self.dir)], env=env,
                              capture_output=True, text=True, timeout=180)

    def start(self):
        t0 = time.monotonic()
        r = self._script("start")
        if r.returncode != 0:
            raise RuntimeError(f"private dockerd failed to start in {self.dir}:\n{r.stderr}")
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """Stops the engine, keeping its data (start() again = an engine restart)."""
        r = self._script("stop")
        if r.returncode != 0:
            raise RuntimeError(f"private dockerd failed to stop in {self.dir}:\n{r.stderr}")

    def restart(self):
        self.stop()
        return self.start()

    def purge(self):
        self._script("purge")

    # --- clients ---------------------------------------------------------------------
    def docker(self, *args, check=True, input=None, timeout=120, env=None):
        """Runs the docker CLI against this engine; returns the CompletedProcess (text).
        Raises DockerCLIError (with stderr) on a non-zero exit when check is true."""
        full_env = {**os.environ, "DOCKER_CONFIG": str(self.dir / "cli-config"),
                    "DOCKER_BUILDKIT": "1", **(env or {})}
        full_env.pop("DOCKER_HOST", None)
        r = subprocess.run([DOCKER_CLI, "-H", self.host, *map(str, args)], input=input,
                           capture_output=True, env=full_env, timeout=timeout,
                           text=not isinstance(input, bytes))
        if check and r.returncode != 0:
            err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
            raise DockerCLIError(f"docker {' '.join(map(str, args))} failed ({r.returncode}): {err}")
        return r

    def docker_out(self, *args, **kw):
        out = self.docker(*args, **kw).stdout
        return (out.decode() if isinstance(out, bytes) else out).strip()

    def api(self, method, path, body=None, timeout=30, headers=None):
        """Raw HTTP over the unix socket. `path` as sent ("/v1.41/info" or "/info");
        `body` may be a dict/list (sent as JSON), str or bytes. Returns ApiResponse."""
        conn = _UnixHTTPConnection(self.socket, timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return ApiResponse(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def get_json(self, path, **kw):
        r = self.api("GET", path, **kw)
        assert 200 <= r.status < 300, f"GET {path}: {r}"
        return r.json()

    @staticmethod
    def filters(**f):
        """filters(status=["exited"]) -> the URL-encoded `filters=` query value."""
        return urllib.parse.quote(json.dumps(f))

    # --- state helpers ---------------------------------------------------------------
    def _unique(self, prefix):
        self._counter += 1
        return f"{prefix}{os.getpid()}-{self._counter}"

    def service_status(self, name):
        """ServiceStatus of one service ({} when absent), via GET /services?status=true."""
        for s in self.get_json("/services?status=true"):
            if s["Spec"]["Name"] == name:
                return s.get("ServiceStatus") or {}
        return {}

    def create_service(self, name=None, stack=None, replicas=1, constraint=None, labels=None,
                       mode="replicated", command=SLEEPER, image=IMAGE,
                       wait=True, extra=()):
        """Creates a swarm service and returns its name. `stack` sets the stack label
        (com.docker.stack.namespace) and prefixes the name as `docker stack deploy` does.
        mode: replicated | global | replicated-job | global-job. `constraint` (e.g.
        "node.labels.nope==1") can make it unsatisfiable. With wait, returns once
        RunningTasks == DesiredTasks (never waits for a constrained service or a job)."""
        name = name or self._unique("svc")
        if stack and not name.startswith(stack + "_"):
            name = f"{stack}_{name}"
        args = ["service", "create", "--detach", "--no-resolve-image", "--name", name,
                "--mode", mode]
        all_labels = dict(labels or {})
        if stack:
            all_labels[STACK_LABEL] = stack
        for k, v in all_labels.items():
            args += ["--label", f"{k}={v}", "--container-label", f"{k}={v}"]
        if mode in ("replicated", "replicated-job"):
            args += ["--replicas", str(replicas)]
        if constraint:
            args += ["--constraint", constraint]
        args += [*extra, image, *command]
        self.docker(*args)
        if wait and not constraint and mode in ("replicated", "global"):
            wait_until(lambda: (st := self.service_status(name)) and st.get("DesiredTasks", 0) > 0
                       and st["RunningTasks"] == st["DesiredTasks"],
                       timeout=90, what=f"service {name} to run all its tasks")
        return name

    def remove_service(self, name, wait=True):
        """Removes a service; with wait, returns once its task containers are gone."""
        self.docker("service", "rm", name)
        if wait:
            wait_until(lambda: not self.get_json(
                "/containers/json?all=1&filters=" + self.filters(label=[f"com.docker.swarm.service.name={name}"])),
                timeout=90, what=f"the containers of service {name} to go")

    def run_container(self, name=None, state="running", labels=None, stack=None,
                      command=None, image=IMAGE):
        """Creates a plain container and returns its id. state: running (sleeps),
        exited (ran `true` and stopped), created (never started)."""
        name = name or self._unique("ctr")
        args = ["--name", name]
        all_labels = dict(labels or {})
        if stack:
            all_labels[STACK_LABEL] = stack
        for k, v in all_labels.items():
            args += ["--label", f"{k}={v}"]
        if state == "created":
            cid = self.docker_out("create", *args, image, *(command or ("true",)))
        elif state == "exited":
            cid = self.docker_out("run", "-d", *args, image, *(command or ("true",)))
            wait_until(lambda: self.docker_out("inspect", "-f", "{{.State.Status}}", cid) == "exited",
                       timeout=60, what=f"container {name} to exit")
        elif state == "running":
            cid = self.docker_out("run", "-d", *args, image, *(command or SLEEPER))
        else:
            raise ValueError(f"unknown state {state!r}")
        return cid

    def make_dangling_image(self, created=None, repo="local/dangling"):
        """Makes one dangling image and returns its id ("sha256:..."): two images are
        loaded under the same tag, the first loses it. `created` (RFC 3339, e.g.
        "2020-01-01T00:00:00Z") backdates it so `until` filters match; default: now."""
        created = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tag = f"{repo}:{self._unique('t')}"
        first = None
        for i in range(2):
            payload = f"{tag} {i} {time.time_ns()}".encode()
            out = self.docker_out("load", input=_image_tar(tag, created, payload))
            # "Loaded image: local/dangling:t1-2" -> resolve the id while it holds the tag
            if i == 0:
                first = self.docker_out("image", "inspect", "-f", "{{.Id}}", tag)
            assert "Loaded image" in out, out
        assert self.get_json(f"/images/{first}/json")["RepoTags"] == [], "image not dangling"
        return first

    def build_cache_count(self):
        return len(self.get_json("/system/df").get("BuildCache") or [])

    def build_with_cache(self, tag=None):
        """A BuildKit build FROM local/busybox:1 with fresh content; returns the number
        of build cache records afterwards (> 0)."""
        ctx = Path(tempfile.mkdtemp(dir=self.dir, prefix="build-"))
        try:
            (ctx / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY stamp /stamp\n")
            (ctx / "stamp").write_text(f"{time.time_ns()}\n")
            self.docker("build", "-q", "-t", tag or f"local/built:{self._unique('b')}", str(ctx))
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
        return self.build_cache_count()

    def reset(self):
        """Removes every service and every container (images and build cache stay)."""
        services = self.get_json("/services")
        if services:
            self.docker("service", "rm", *[s["ID"] for s in services])
        ids = [c["Id"] for c in self.get_json("/containers/json?all=1")]
        if ids:
            self.docker("rm", "-f", *ids, check=False)
        wait_until(lambda: not self.get_json("/containers/json?all=1"), timeout=90,
                   what="all containers to be removed")

    wait_until = staticmethod(wait_until)


def _pid_alive_for(directory):
    """True when DIR/docker.pid names a live dockerd started for DIR."""
    try:
        pid = int((Path(directory) / "docker.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return (str(directory) + "/").encode() in cmdline


def _reap_stale_engines(max_age=600):
    """Purges engines left by crashed earlier sessions (/tmp/cdp-eng-*): older than
    `max_age` seconds and without a live dockerd. Engines of concurrent sessions are
    alive (or younger than max_age) and are left alone."""
    now = time.time()
    for d in Path("/tmp").glob("cdp-eng-*"):
        try:
            if not d.is_dir() or now - d.stat().st_mtime < max_age or _pid_alive_for(d):
                continue
        except OSError:
            continue
        subprocess.run(["bash", str(SCRIPT), "purge", str(d)], capture_output=True, timeout=180)


def _new_engine_dir():
    # Short: unix socket paths are limited to 108 bytes (the script refuses > 60 chars).
    return tempfile.mkdtemp(prefix="cdp-eng-", dir="/tmp")


def _require_root_and_dockerd():
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root (netns, mounts)")
    if not Path("/usr/sbin/dockerd").exists():
        pytest.skip("dockerd not installed (scripts/install-deps.sh)")


@pytest.fixture(scope="session")
def cdp_bin():
    path = Path(os.environ.get("CDP_BIN", REPO / "build" / "ci-docker-prune"))
    if not path.exists():
        pytest.fail(f"binary {path} not found: build it or set CDP_BIN")
    return str(path)


@pytest.fixture(scope="session")
def engine():
    _require_root_and_dockerd()
    _reap_stale_engines()
    eng = Engine(_new_engine_dir())
    try:
        eng.start()
    except Exception:
        eng.purge()
        raise
    yield eng
    if os.environ.get("CDP_KEEP_ENGINE"):
        eng.stop()
    else:
        eng.purge()


@pytest.fixture
def clean_engine(engine):
    engine.reset()
    yield engine
    engine.reset()


@pytest.fixture
def engine_factory():
    _require_root_and_dockerd()
    started = []

    def make(**env):
        eng = Engine(_new_engine_dir(), env=env)
        started.append(eng)
        return eng.start()

    yield make
    for eng in started:
        eng.purge()


@pytest.fixture
def tmp_config(tmp_path):
    """tmp_config(**sections) writes {"docker": {...}, ...} to a fresh file and returns
    its Path. Pass raw=<str> to write text verbatim (syntax-error tests)."""
    count = [0]

    def write(raw=None, **sections):
        count[0] += 1
        path = tmp_path / f"config-{count[0]}.json"
        path.write_text(raw if raw is not None else json.dumps(sections, indent=2))
        return path

    return write


@pytest.fixture(autouse=True)
def _private_state_directory(tmp_path, monkeypatch):
    """Every daemon a test starts inherits STATE_DIRECTORY=<tmp>/state: its state file
    (the last prune, which carries the cooldown across restarts) never leaks between tests
    or onto the host's /var/lib/ci-docker-prune. A test that restarts a daemon with the
    same state passes the same directory on purpose."""
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    # And its own one-daemon lock folder: the default, /run/ci-docker-prune, is the host's,
    # so a ci-docker-prune daemon running on the CI host (or a benchmark beside the suite:
    # seen, test_cli's bad-config daemon exited 1 "another daemon holds the lock") would
    # fail every daemon test. Tests that share a lock folder on purpose pass their own.
    run = tmp_path / "run-default"
    run.mkdir(exist_ok=True)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(run))
    return state
