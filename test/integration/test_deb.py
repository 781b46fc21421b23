"""The Debian package (issue 10) in a booted Debian: install, upgrade, remove, purge.

Builds the .deb twice per session (scripts/build-deb.sh, once at the tree's version and
once at a higher one for the upgrade; the build time of each is printed), boots the
nspawn Debian of test_nspawn.py with the package's runtime libraries added to the rootfs
(CDP_ROOTFS_EXTRA: dpkg -i then resolves Depends offline, from what shlibs computed), a
stand-in docker.service and the private engine's socket bound at /run/docker.sock, and
drives dpkg and systemctl inside. Tests run in order and build on each other.
"""
import http.client
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from test_nspawn import SERVICE, Container, _why_not_runnable, wait_for

REPO = Path(__file__).resolve().parents[2]
CONFIG = "/etc/ci-docker-prune/config.json"

pytestmark = [
    pytest.mark.skipif(_why_not_runnable() is not None, reason=str(_why_not_runnable())),
    pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None, reason="dpkg-dev not installed"),
    # The first test pays for the session fixture `debs`: two package builds, cold after a
    # source change (seen: over pytest.ini's 300 s on a loaded 2-core host). Each build has
    # its own 1800 s limit below; the module's limit covers them both.
    pytest.mark.timeout(3900),
]

STANDIN_DOCKER = """[Unit]
Description=Stand-in for Docker (the engine runs outside; its socket is bound in)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true

[Install]
WantedBy=multi-user.target
"""


def version_of(changelog):
    return re.match(r"ci-docker-prune \(([^)]+)\)", changelog.read_text()).group(1)


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("debs")
    base = version_of(REPO / "debian" / "changelog")
    built = {}
    for label, extra in (("old", []), ("new", ["--version", base + "+upgrade1"])):
        t0 = time.monotonic()
        r = subprocess.run([str(REPO / "scripts/build-deb.sh"), "--nocheck", *extra, str(out / label)],
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr
        seconds = time.monotonic() - t0
        print(f"\nbuild-deb.sh ({label}): {seconds:.0f} s")
        built[label] = Path(r.stdout.split()[-1])
    return built


def real_package(name):
    """`name`, or the installed package that Provides it: debootstrap --include cannot
    resolve a virtual package (seen: libspdlog1.10-fmt9, provided by libspdlog1.10). The
    host built the .deb, so its build dependencies' runtime libraries are installed here."""
    rows = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Provides}\n"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    for row in rows:
        pkg, _, provides = row.partition("\t")
        if pkg == name:
            return name
    for row in rows:
        pkg, _, provides = row.partition("\t")
        if name in [p.split("(")[0].strip() for p in provides.split(",")]:
            return pkg
    return name


def depends_packages(deb):
    """Real package names for the .deb's Depends (the first of each alternative), for the rootfs."""
    field = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True,
                           check=True).stdout
    return sorted({real_package(alt.split("|")[0].split("(")[0].strip()) for alt in field.split(",") if alt.strip()})


@pytest.fixture(scope="module")
def box(tmp_path_factory, engine, debs):
    work = tmp_path_factory.mktemp("debbox")
    extra = ",".join(depends_packages(debs["old"]))
    env = {"CDP_ROOTFS_EXTRA": extra, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    r = subprocess.run([str(REPO / "scripts/nspawn-rootfs.sh"), str(work / "root")], capture_output=True,
                       text=True, timeout=900, env=env)
    if r.returncode != 0:
        pytest.fail(f"scripts/nspawn-rootfs.sh failed:\n{r.stderr}")
    root = work / "root"
    c = Container(root, "cdpdeb-" + uuid.uuid4().hex[:6], work / "console.log")
    c.write("/etc/systemd/system/docker.service", STANDIN_DOCKER)
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system/multi-user.target.wants/docker.service").symlink_to(
        "/etc/systemd/system/docker.service")
    (root / "debs").mkdir()
    for label, deb in debs.items():
        shutil.copy2(deb, root / "debs" / f"{label}.deb")
    try:
        c.boot(binds=[(engine.socket, "/run/docker.sock")])
        yield c
    finally:
        c.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def props(c):
    return c.show("ActiveState", "SubState", "MainPID", "UnitFileState", "LoadState")


def status_json(c):
    r = c.run("/usr/bin/ci-docker-prune", "status", "--json", check=False)
    return r.returncode == 0 and json.loads(r.stdout)


def dpkg(c, *args):
    return c.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--force-confold", *args, timeout=300)


def test_install_enables_and_starts_and_status_works(box):
    c = box
    assert c.run("systemctl", "is-active", "docker.service").stdout.strip() == "active"
    dpkg(c, "-i", "/debs/old.deb")
    p = props(c)
    assert (p["ActiveState"], p["SubState"], p["UnitFileState"]) == ("active", "running", "enabled"), p
    st = wait_for(lambda: (s := status_json(c)) and s.get("docker_connected") and s, 60,
                  "`ci-docker-prune status` to answer, connected to Docker")
    assert st["state"] in ("idle", "blocked", "settling", "cooldown"), st
    # What the package put where (the unit's ExecStart names /usr/bin).
    files = c.run("dpkg", "-L", "ci-docker-prune").stdout.split()
    for f in ("/usr/bin/ci-docker-prune", CONFIG, "/usr/share/dbus-1/system.d/net.commoninternet.CiDockerPrune1.conf",
              "/usr/share/man/man8/ci-docker-prune.8.gz", "/usr/share/doc/ci-docker-prune/runbook.md",
              "/usr/share/doc/ci-docker-prune/copyright", "/usr/share/doc/ci-docker-prune/changelog.gz"):
        assert f in files, f
    assert any(f.endswith("/systemd/system/ci-docker-prune.service") for f in files), files
    conffiles = c.run("dpkg-query", "-W", "-f=${Conffiles}", "ci-docker-prune").stdout
    assert CONFIG in conffiles, conffiles
    exec_start = c.show("ExecStart")["ExecStart"]
    assert "path=/usr/bin/ci-docker-prune" in exec_start, exec_start


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_under_the_shipped_sandbox_with_the_documented_drop_in(box):
    """docs/metrics.md's drop-in: the textfile's folder writable, a loopback TCP listener
    (the host network, IP families, IPAddressAllow=localhost). The container shares the
    host's network namespace (nspawn without --private-network), so the host scrapes it."""
    c = box
    port = free_port()
    c.write(f"/etc/systemd/system/{SERVICE}.d/metrics.conf",
            "[Service]\nReadWritePaths=/var/lib/prometheus/node-exporter\n"
            "PrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\nIPAddressAllow=localhost\n")
    (c.root / "var/lib/prometheus/node-exporter").mkdir(parents=True, exist_ok=True)
    prom = "/var/lib/prometheus/node-exporter/ci-docker-prune.prom"
    c.write(CONFIG, json.dumps({"metrics": {"textfile": prom, "listen": f"127.0.0.1:{port}"}}) + "\n")
    c.run("systemctl", "daemon-reload")
    c.run("systemctl", "restart", SERVICE, timeout=120)
    path = c.root / prom.lstrip("/")
    text = wait_for(lambda: path.exists() and 'ci_docker_prune_docker_connected 1' in (t := path.read_text()) and t,
                    60, "the textfile written from inside the sandbox, Docker connected")
    assert path.stat().st_mode & 0o777 == 0o644
    assert "ci_docker_prune_build_info{" in text
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = wait_for(lambda: _get(conn), 30, "GET /metrics on the loopback port")
    assert "ci_docker_prune_prunes_total" in body
    # Back to the shipped sandbox and the default config for the tests that follow.
    (c.root / f"etc/systemd/system/{SERVICE}.d/metrics.conf").unlink()
    c.write(CONFIG, (REPO / "config" / "config.json").read_text())  # as shipped
    c.run("systemctl", "daemon-reload")
    c.run("systemctl", "restart", SERVICE, timeout=120)


def _get(conn):
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        return r.status == 200 and r.read().decode()
    except OSError:
        return False
    finally:
        conn.close()


def test_upgrade_keeps_the_edited_config_and_restarts(box):
    c = box
    before = props(c)
    assert before["ActiveState"] == "active"
    edited = json.dumps({"disk": {"threshold_percent": 97}, "log": {"level": "debug"}}) + "\n"
    c.write(CONFIG, edited)
    dpkg(c, "-i", "/debs/new.deb")
    new_version = c.run("dpkg-query", "-W", "-f=${Version}", "ci-docker-prune").stdout
    assert new_version.endswith("+upgrade1"), new_version
    assert (c.root / CONFIG.lstrip("/")).read_text() == edited  # the conffile edit is kept
    after = wait_for(lambda: (p := props(c))["ActiveState"] == "active" and p["SubState"] == "running" and p, 60,
                     "the upgraded daemon to run")
    assert after["MainPID"] != before["MainPID"], (before, after)  # restarted, not just left running
    st = wait_for(lambda: (s := status_json(c)) and s, 60, "status after the upgrade")
    assert st["disk"]["threshold_percent"] == 97, st  # the new process read the edited file


def test_remove_stops_and_keeps_the_config(box):
    c = box
    dpkg(c, "-r", "ci-docker-prune")
    p = props(c)
    assert p["ActiveState"] in ("inactive", "failed") and p["MainPID"] == "0", p
    assert not (c.root / "usr/bin/ci-docker-prune").exists()
    assert (c.root / CONFIG.lstrip("/")).exists()
    assert c.run("dpkg-query", "-W", "-f=${Status}", "ci-docker-prune").stdout == "deinstall ok config-files"


def test_purge_removes_the_config(box):
    c = box
    dpkg(c, "-P", "ci-docker-prune")
    assert not (c.root / CONFIG.lstrip("/")).exists()
    assert not (c.root / "etc/ci-docker-prune").exists()
    r = c.run("dpkg-query", "-W", "ci-docker-prune", check=False)
    assert r.returncode != 0


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian not installed")
def test_lintian_reports_no_errors_or_warnings(debs):
    changes = sorted(debs["old"].parent.glob("*.changes"))
    assert changes, list(debs["old"].parent.iterdir())
    # --fail-on: exit non-zero on any E: or W: tag (lintian 2.116); the tags are printed.
    r = subprocess.run(["lintian", "--fail-on", "error,warning", str(changes[0])], capture_output=True,
                       text=True, timeout=600)
    tags = [line for line in r.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr
