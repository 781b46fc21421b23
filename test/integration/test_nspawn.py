"""End to end under a real systemd: the shipped unit, in a Debian container booted with
systemd-nspawn, runs the built daemon against the test's private dockerd (its socket is
bound into the container at /run/docker.sock, the default docker.host).

Owns: the container's lifetime (rootfs from scripts/nspawn-rootfs.sh, a throwaway cgroup,
boot, teardown). Must not touch the host's systemd, or leave processes, cgroups or trees.
Tests share one booted container (a boot is ~1 s, the rootfs build ~50 s once, then
cached); each starts the service if needed, so any subset runs alone. They wait on
conditions, never on fixed sleeps.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "ci-docker-prune.service"
BUS_POLICY = REPO / "systemd" / "net.commoninternet.CiDockerPrune1.conf"
SERVICE = "ci-docker-prune.service"
STATES = ("connecting", "idle", "blocked", "settling", "pruning", "cooldown")
# Short enough to see a stalled daemon killed quickly, long enough that a busy 2-core CI
# machine does not miss a ping (the daemon pets it every 2 s).
TEST_WATCHDOG_SEC = 4


def _why_not_runnable():
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn, cgroups, debootstrap)"
    for tool in ("systemd-nspawn", "nsenter", "debootstrap", "zstd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-deps.sh installs it)"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no cgroup file system at /sys/fs/cgroup"
    return None


pytestmark = pytest.mark.skipif(_why_not_runnable() is not None, reason=str(_why_not_runnable()))


def wait_for(predicate, timeout, what):
    """Polls `predicate` until it returns a truthy value; fails naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class ThrowawayCgroup:
    """A cgroup in every hierarchy nspawn looks at (the named systemd one on hybrid hosts,
    and the unified one), so nspawn --keep-unit has a group of its own (FACTS)."""

    def __init__(self, name):
        base = Path("/sys/fs/cgroup")
        if (base / "cgroup.controllers").exists():  # pure cgroup v2
            roots = [base]
        else:
            roots = [p for p in (base / "systemd", base / "unified") if p.is_dir()]
        self.dirs = [r / name for r in roots]
        for d in self.dirs:
            d.mkdir()

    def enter_command(self):
        """Shell words that move the shell into every group, for `sh -c '...; exec ...'`."""
        return "; ".join(f"echo $$ > {d}/cgroup.procs" for d in self.dirs)

    def pids(self):
        out = set()
        for d in self.dirs:
            for procs in d.rglob("cgroup.procs"):
                try:
                    out.update(int(p) for p in procs.read_text().split())
                except OSError:
                    pass
        return out

    def remove(self):
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for d in self.dirs:
            if d.exists():
                for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    sub.rmdir()
                d.rmdir()


class Container:
    def __init__(self, root, name, log_path):
        self.root, self.name, self.log_path = root, name, log_path
        self.cgroup = ThrowawayCgroup(f"cdp-nspawn-{name}")
        self.proc = None
        self.leader = None

    # -- lifetime ---------------------------------------------------------------------
    def boot(self, binds):
        bind_args = " ".join(f"--bind={src}:{dst}" for src, dst in binds)
        # --register=no: no machined here; --keep-unit: stay in our throwaway cgroup
        # (plain -b fails without a system bus, FACTS). read-only console: no tty in CI.
        cmd = (f"{self.cgroup.enter_command()}; exec systemd-nspawn -D {self.root} -M {self.name} "
               f"--register=no --keep-unit --console=read-only {bind_args} -b")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.leader = wait_for(self._find_leader, 30, "the container's init (PID 1 inside)")
        # Until init has its private socket systemctl says "offline"/fails: poll, don't --wait.
        def booted():
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("maintenance", "stopping"):
                pytest.fail(f"container did not boot: {state}\n{self.console()}")
            return state in ("running", "degraded") and state
        wait_for(booted, 90, "the container to boot (is-system-running)")

    def _find_leader(self):
        if self.proc.poll() is not None:
            pytest.fail(f"systemd-nspawn exited with {self.proc.returncode}:\n{self.console()}")
        for pid in self.cgroup.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            m = re.search(r"^NSpid:\s+(.*)$", status, re.M)
            if m and len(m.group(1).split()) > 1 and m.group(1).split()[-1] == "1":
                return pid
        return None

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's init to power off
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.cgroup.remove()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)

    def console(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- driving it -----------------------------------------------------------------------
    def run(self, *argv, timeout=60, check=True):
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *argv], capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def show(self, *props):
        out = self.run("systemctl", "show", SERVICE, *[f"--property={p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args):
        self.run("journalctl", "--sync", check=False)
        out = self.run("journalctl", "--no-pager", "-o", "json", *args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def write(self, path, text):
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def install_binary(binary, root):
    """The built binary at /usr/bin (the unit's path) plus any shared library it links
    that the minbase tree lacks (spdlog, fmt, ...), copied from the host: same release."""
    dest = root / "usr/bin/ci-docker-prune"
    shutil.copy2(binary, dest)
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for lib in re.findall(r"=>\s+(/\S+)", out):
        target = root / lib.lstrip("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), target)


def config_json(threshold):
    # dry_run false: the real policy. threshold 100% keeps the daemon idle (the host disk
    # is never full), so nothing is pruned; disk.path exists in the container.
    return json.dumps({"disk": {"path": "/var/lib", "threshold_percent": threshold},
                       "prune": {"dry_run": False}, "log": {"level": "debug"}}) + "\n"


@pytest.fixture(scope="module")
def container(tmp_path_factory, engine, cdp_bin):
    tarball_dir = tmp_path_factory.mktemp("nspawn")
    r = subprocess.run([str(REPO / "scripts/nspawn-rootfs.sh"), str(tarball_dir / "root")],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"scripts/nspawn-rootfs.sh failed:\n{r.stderr}")
    root = tarball_dir / "root"
    install_binary(cdp_bin, root)
    # As a package installs them: the unit verbatim in the vendor dir, the bus policy
    # where dbus-daemon reads system policies.
    (root / "usr/lib/systemd/system").mkdir(parents=True, exist_ok=True)
    shutil.copy2(UNIT, root / "usr/lib/systemd/system" / SERVICE)
    (root / "usr/share/dbus-1/system.d").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUS_POLICY, root / "usr/share/dbus-1/system.d" / BUS_POLICY.name)
    c = Container(root, "cdp-" + uuid.uuid4().hex[:8], tarball_dir / "console.log")
    c.write("/etc/ci-docker-prune/config.json", config_json(100))
    # The only change to the shipped unit: a short watchdog, so the stall test is quick.
    c.write(f"/etc/systemd/system/{SERVICE}.d/test-watchdog.conf",
            f"[Service]\nWatchdogSec={TEST_WATCHDOG_SEC}s\n")
    try:
        c.boot(binds=[(engine.socket, "/run/docker.sock")])
        yield c
    finally:
        c.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def status_text(c):
    return c.show("StatusText")["StatusText"]


def running(c):
    """The service, started if an earlier test (or -k) left it stopped; a no-op otherwise."""
    c.run("systemctl", "start", SERVICE, timeout=120)
    wait_for(lambda: status_text(c).startswith("idle:"), 60, "STATUS to reach idle")
    return c


def configured_threshold(c):
    return json.loads((c.root / "etc/ci-docker-prune/config.json").read_text())["disk"]["threshold_percent"]


def test_start_waits_for_ready_and_shows_status(container):
    c = container
    # Type=notify: `systemctl start` returns only after READY=1 (or fails).
    c.run("systemctl", "start", SERVICE, timeout=120)
    props = c.show("ActiveState", "SubState", "Type", "NotifyAccess", "MainPID", "StatusText")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), props
    assert props["Type"] == "notify" and props["NotifyAccess"] == "main"
    assert props["StatusText"].split(":")[0] in STATES, props
    # The Docker socket bound into the sandboxed service is reachable: it leaves
    # "connecting" and, with a 100% threshold, settles at idle.
    line = wait_for(lambda: (s := status_text(c)).startswith("idle:") and s, 60,
                    "STATUS to reach idle (Docker reachable through the sandbox)")
    assert "100%" in line, line
    # The real systemd loaded the shipped unit without a complaint (unknown keys, bad
    # values and unsupported sandboxing are logged by PID 1 at warning or above).
    complaints = c.run("journalctl", "--no-pager", "-o", "cat", "-u", SERVICE, "_PID=1", "-p", "warning").stdout
    assert complaints.strip() in ("", "-- No entries --"), complaints
    out = c.run("systemctl", "status", "--no-pager", "--lines=0", SERVICE, check=False).stdout
    assert f'Status: "{line}"' in out or 'Status: "idle:' in out, out


def test_journal_has_the_daemons_records(container):
    c = running(container)
    main_pid = c.show("MainPID")["MainPID"]
    # The daemon's own records carry its identifier (systemd's exec helper logs under the
    # same pid before exec as "(er-prune)"; journald may even cache that _COMM).
    wait_for(lambda: [r for r in c.journal("-u", SERVICE, f"_PID={main_pid}")
                      if r.get("SYSLOG_IDENTIFIER") == "ci-docker-prune"], 30, "journal records from the daemon")
    # Native journal records (not stderr lines): the decision fields are real fields.
    events = wait_for(lambda: [r["CDP_EVENT"] for r in c.journal("-u", SERVICE, f"_PID={main_pid}")
                               if "CDP_EVENT" in r], 30, "a record with CDP_EVENT")
    assert "docker_connected" in events, events
    # And the operator's view lists them.
    text = c.run("journalctl", "--no-pager", "-u", SERVICE).stdout
    assert "ci-docker-prune[" in text, text


def test_reload_rereads_config_and_keeps_running(container):
    c = running(container)
    before = c.show("MainPID", "NRestarts")
    c.write("/etc/ci-docker-prune/config.json", config_json(99))
    r = c.run("systemctl", "reload", SERVICE, timeout=60)
    assert r.returncode == 0
    line = wait_for(lambda: (s := status_text(c)).startswith("idle:") and "99%" in s and s, 30,
                    "STATUS to show the reloaded threshold 99%")
    after = c.show("MainPID", "NRestarts", "ActiveState", "SubState")
    assert after["MainPID"] == before["MainPID"] and after["NRestarts"] == before["NRestarts"], after
    assert (after["ActiveState"], after["SubState"]) == ("active", "running")
    msgs = [m.get("MESSAGE", "") for m in c.journal("-u", SERVICE, "_PID=1")]
    assert any(m.startswith("Reloaded ") for m in msgs), msgs[-10:]
    assert "100%" not in line

    # A bad config is rejected, the old one kept, the error logged; the unit stays up.
    c.write("/etc/ci-docker-prune/config.json", '{"disk": {"threshold_percent": 250}}\n')
    c.run("systemctl", "reload", SERVICE, timeout=60)
    wait_for(lambda: any("threshold_percent" in str(m.get("MESSAGE", ""))
                         for m in c.journal("-u", SERVICE, f"_PID={before['MainPID']}")), 30,
             "the rejected config logged, naming the key")
    after = c.show("MainPID", "ActiveState", "SubState")
    assert after["MainPID"] == before["MainPID"] and after["ActiveState"] == "active", after
    assert "99%" in status_text(c)
    c.write("/etc/ci-docker-prune/config.json", config_json(99))


def test_bus_status_and_methods_under_the_sandbox(container):
    # The sandboxed daemon owns its name on the container's system bus under the shipped
    # policy, and `status` (as root, outside the sandbox) reads it back.
    running(container)
    r = container.run("/usr/bin/ci-docker-prune", "status", "--json", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(r.stdout)
    assert st["state"] == "idle" and st["docker_connected"] is True, st
    assert st["disk"]["path"] == "/var/lib" and st["disk"]["threshold_percent"] == configured_threshold(container), st
    assert {g["name"] for g in st["gates"]} == {"disk", "runs", "converge", "cooldown"}, st
    # Root may call the methods although the daemon itself runs without capabilities in a
    # private user namespace. PruneNow never waives the disk gate unless asked: skipped.
    bus = ["busctl", "call", "net.commoninternet.CiDockerPrune1", "/net/commoninternet/CiDockerPrune1",
           "net.commoninternet.CiDockerPrune1.Manager"]
    r = container.run(*bus, "PruneNow", "b", "false")
    assert r.stdout.startswith('st "skipped: disk gate closed'), r.stdout
    # Waived, it prunes, and the sandbox (ProtectSystem=strict) lets it write its state
    # file in StateDirectory=: the cooldown survives a restart.
    # (Right after start the converge gate may still wait for its second observation.)
    calls = []

    def prune_now_waived():
        calls.append(container.run(*bus, "PruneNow", "b", "true").stdout)
        return calls[-1].startswith('st "pruned"')
    try:
        wait_for(prune_now_waived, 60, "PruneNow(true) to prune")
    except BaseException:
        print("PruneNow answers:", calls[-3:])
        raise
    state = json.loads(container.run("cat", "/var/lib/ci-docker-prune/state.json").stdout)
    assert state["last_prune"]["outcome"] == "pruned", state
    container.run(*bus, "Reload")
    assert container.show("ActiveState")["ActiveState"] == "active"


def test_stalled_daemon_is_killed_by_watchdog_and_restarted(container):
    c = running(container)
    before = c.show("MainPID", "NRestarts", "WatchdogUSec")
    assert before["WatchdogUSec"] in (f"{TEST_WATCHDOG_SEC}s", str(TEST_WATCHDOG_SEC * 1_000_000)), before
    # Stall the event loop: SIGSTOP the main process; it cannot pet the watchdog any more.
    c.run("systemctl", "kill", "--kill-who=main", "--signal=SIGSTOP", SERVICE)

    def restarted():
        p = c.show("MainPID", "NRestarts", "ActiveState", "SubState")
        return (p["MainPID"] not in ("0", before["MainPID"]) and int(p["NRestarts"]) > int(before["NRestarts"])
                and (p["ActiveState"], p["SubState"]) == ("active", "running") and p)

    # Watchdog 4 s + RestartSec 5 s + start; generous for a loaded machine.
    wait_for(restarted, 90, "the watchdog to kill the stalled daemon and Restart= to bring it back")
    msgs = [m.get("MESSAGE", "") for m in c.journal("-u", SERVICE, "_PID=1")]
    assert any("Watchdog timeout" in m for m in msgs), msgs[-10:]
    wait_for(lambda: status_text(c).split(":")[0] in STATES, 30, "the restarted daemon's STATUS")


def test_bad_config_at_start_fails_at_once_without_restarts(container):
    c = container
    c.write("/etc/ci-docker-prune/config.json", '{"disk": {"threshold_percent": 250}}\n')
    r = c.run("systemctl", "restart", SERVICE, timeout=120, check=False)
    assert r.returncode != 0, "a start with a bad config must fail"
    # RestartPreventExitStatus=2: straight to failed, not auto-restart.
    p = wait_for(lambda: (p := c.show("ActiveState", "SubState", "ExecMainStatus", "Result"))["SubState"]
                 in ("failed", "auto-restart") and p, 60, "the start to fail")
    assert (p["SubState"], p["ExecMainStatus"], p["Result"]) == ("failed", "2", "exit-code"), p
    text = c.run("journalctl", "--no-pager", "-u", SERVICE, "-n", "20").stdout
    assert "/etc/ci-docker-prune/config.json: disk.threshold_percent" in text, text
    c.write("/etc/ci-docker-prune/config.json", config_json(99))
    c.run("systemctl", "start", SERVICE, timeout=120)
    assert c.show("ActiveState")["ActiveState"] == "active"


def test_stop_is_clean(container):
    c = running(container)
    c.run("systemctl", "stop", SERVICE, timeout=120)
    props = c.show("ActiveState", "Result", "ExecMainStatus")
    assert props["ActiveState"] == "inactive" and props["Result"] == "success", props
