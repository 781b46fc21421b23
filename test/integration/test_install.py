"""What an operator's install and upgrade steps do to a host: scripts/install-deps.sh
(called by scripts/run.sh, the README quick start) never installs a Docker engine where a
dockerd already exists (issue 12: docker-ce hosts), and `cmake --install` never overwrites
an edited /etc/ci-docker-prune/config.json. apt-get and dpkg-query are stand-ins on PATH
that record what they were asked: nothing here installs anything on the machine."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _install_deps(tmp_path, mode, with_dockerd):
    """Runs install-deps.sh MODE with every package absent (dpkg-query stand-in) and
    apt-get recording its arguments; returns the list of `apt-get install` lines."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "apt-get.log"
    _stub(stubs / "dpkg-query", "exit 1")  # "no packages found matching ..."
    _stub(stubs / "apt-get", f'echo "$*" >> {log}')
    if with_dockerd:
        _stub(stubs / "dockerd", "exit 0")  # docker-ce's /usr/bin/dockerd, say
    # No /usr/sbin (where Debian's docker.io puts dockerd) and no /usr/local: only the stubs
    # decide whether a dockerd exists.
    env = dict(os.environ, PATH=f"{stubs}:/usr/bin:/bin")
    r = subprocess.run(["bash", str(REPO / "scripts" / "install-deps.sh"), mode], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [l for l in log.read_text().splitlines() if l.startswith("install")] if log.exists() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="install-deps.sh installs only as root")
def test_install_deps_run_keeps_an_existing_engine(tmp_path):
    installs = _install_deps(tmp_path, "run", with_dockerd=True)
    assert len(installs) == 1, installs
    words = installs[0].split()
    assert "busybox-static" in words  # the other run dependencies are still installed
    assert not {"docker.io", "docker-ce", "containerd", "containerd.io", "runc"} & set(words), installs


@pytest.mark.skipif(os.geteuid() != 0, reason="install-deps.sh installs only as root")
def test_install_deps_run_installs_an_engine_only_when_none_exists(tmp_path):
    installs = _install_deps(tmp_path, "run", with_dockerd=False)
    assert len(installs) == 1 and "docker.io" in installs[0].split(), installs


def test_run_sh_gets_its_engine_through_install_deps():
    """run.sh has no apt-get of its own: the test above covers its dependency step."""
    text = (REPO / "scripts" / "run.sh").read_text()
    assert "bash scripts/install-deps.sh run" in text
    assert "apt-get" not in text.replace("(apt-get, and the private engine needs it)", "")


def _cmake_install(build_dir, destdir):
    r = subprocess.run(["cmake", "--install", str(build_dir)], env=dict(os.environ, DESTDIR=str(destdir)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    found = list(destdir.glob("**/ci-docker-prune/config.json"))
    assert len(found) == 1, found
    return found[0], r.stdout


def test_cmake_install_keeps_an_edited_config(cdp_bin, tmp_path):
    build_dir = Path(cdp_bin).parent
    if not (build_dir / "cmake_install.cmake").exists():
        pytest.skip(f"{build_dir} is not a CMake build directory")
    destdir = tmp_path / "dest"
    config, _ = _cmake_install(build_dir, destdir)
    shipped = (REPO / "config" / "config.json").read_text()
    assert config.read_text() == shipped  # a first install gets the defaults
    assert not (config.parent / "config.json.dist").exists()

    edited = shipped.replace('"threshold_percent": 80', '"threshold_percent": 70')
    assert edited != shipped
    config.write_text(edited)
    config2, out = _cmake_install(build_dir, destdir)  # the upgrade
    assert config2 == config
    assert config.read_text() == edited, "cmake --install overwrote the operator's config"
    assert (config.parent / "config.json.dist").read_text() == shipped  # defaults beside it, to diff
    assert "Keeping:" in out


def test_shipped_config_honours_docker_host(cdp_bin, tmp_path):
    """The shipped file leaves docker.host out, so DOCKER_HOST (README, --help) works with
    it; a docker.host in the file would silently win (issue 12)."""
    shipped = REPO / "config" / "config.json"
    env = dict(os.environ, DOCKER_HOST="unix:///run/elsewhere.sock")
    r = subprocess.run([cdp_bin, "check-config", "-c", str(shipped)], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout)["docker"]["host"] == "unix:///run/elsewhere.sock"
    env.pop("DOCKER_HOST")
    r = subprocess.run([cdp_bin, "check-config", "-c", str(shipped)], env=env, capture_output=True, text=True,
                       timeout=30)
    assert json.loads(r.stdout)["docker"]["host"] == "unix:///var/run/docker.sock"


def test_check_config_warns_on_values_outside_a_sane_range(cdp_bin, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"disk": {"threshold_percent": 0.8}, "prune": {"until": "1ms"}}\n')
    r = subprocess.run([cdp_bin, "check-config", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # a warning, not a rejection
    lines = r.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"warning: {cfg}: disk.threshold_percent is 0.8: a percentage"), lines
    assert "for 80 % write 80" in lines[0]
    assert lines[1].startswith(f"warning: {cfg}: prune.until is 1ms"), lines
    assert json.loads(r.stdout)["disk"]["threshold_percent"] == 0.8


def test_journal_catalog_is_installed_and_parses(cdp_bin, tmp_path):
    """`journalctl -x` explains prune_done and still_full: the catalog CMake installs is
    accepted by journalctl's own catalog compiler, for both MESSAGE_IDs the code logs."""
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl not installed")
    build_dir = Path(cdp_bin).parent
    if not (build_dir / "cmake_install.cmake").exists():
        pytest.skip(f"{build_dir} is not a CMake build directory")
    destdir = tmp_path / "dest"
    _cmake_install(build_dir, destdir)
    catalogs = list(destdir.glob("**/lib/systemd/catalog/ci-docker-prune.catalog"))
    assert len(catalogs) == 1, catalogs
    # journalctl --root reads ROOT/usr/lib/systemd/catalog/*.catalog.
    root = tmp_path / "root"
    (root / "usr/lib/systemd/catalog").mkdir(parents=True)
    shutil.copy2(catalogs[0], root / "usr/lib/systemd/catalog")
    r = subprocess.run(["journalctl", f"--root={root}", "--update-catalog"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    listed = subprocess.run(["journalctl", f"--root={root}", "--list-catalog"], capture_output=True, text=True,
                            timeout=60).stdout
    # The ids are defined where the code that logs them lives (the prune's in policy/).
    header = (REPO / "lib/report/journal.hpp").read_text() + (REPO / "lib/policy/prune_step.hpp").read_text()
    ids = dict(re.findall(r'k(\w+)MessageId = "([0-9a-f]{32})"', header))
    assert set(ids) >= {"PruneFinished", "StillFull"}, ids
    for name, mid in ids.items():
        assert re.search(rf"^{mid} ci-docker-prune: \S", listed, re.M), (name, listed)
