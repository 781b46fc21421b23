"""What an operator's install and upgrade steps do to a host: scripts/install-deps.sh
(called by scripts/run.sh, the README quick start) never installs a Docker engine where a
dockerd already exists (issue 12: docker-ce hosts), and `cmake --install` never overwrites
an edited /etc/ci-docker-prune/config.json. apt-get and dpkg-query are stand-ins on PATH
that record what they were asked: nothing here installs anything on the machine."""
from __future__ import annotations

import os
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
