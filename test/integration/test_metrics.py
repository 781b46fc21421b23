"""Prometheus metrics (issue 10) from the real daemon against a private dockerd.

The daemon writes the textfile (metrics.textfile) and serves GET /metrics on a loopback
TCP port and a unix socket (metrics.listen; one daemon per address form). The output is
validated with promtool, and scraped around a real prune (the tmpfs disk over threshold,
a run stack blocking, then removed) to see the prune counted and the bytes reclaimed.
Reuses test_daemon.py's daemon, tmpfs and config helpers. Waits on conditions only.
"""
from __future__ import annotations

import http.client
import math
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import RUN_STACK, wait_until
from test_daemon import TMPFS_MB, config_for, daemon_factory, image_exists, tmpfs, write_config  # noqa: F401

PROMTOOL = shutil.which("promtool")


def parse(text):
    """{'name{labels}': value} from the text format (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def get(conn, method="GET", path="/metrics"):
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def scrape_tcp(port, method="GET", path="/metrics"):
    return get(http.client.HTTPConnection("127.0.0.1", port, timeout=10), method, path)


def scrape_unix(sock, method="GET", path="/metrics"):
    return get(UnixHTTP(str(sock)), method, path)


def textfile(path: Path):
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        return {}


PRUNED = 'ci_docker_prune_prunes_total{outcome="pruned"}'


def reclaimed(m):
    return sum(v for k, v in m.items() if k.startswith("ci_docker_prune_reclaimed_bytes_total{"))


def test_metrics_around_a_real_prune(clean_engine, tmpfs, daemon_factory, tmp_path):  # noqa: F811
    engine = clean_engine
    dangling = engine.make_dangling_image(created="2020-01-01T00:00:00Z")
    svc = engine.create_service(stack=RUN_STACK)
    tmpfs.fill(TMPFS_MB * 6 // 10)  # 60% >= 50%
    prom = tmp_path / "textfile" / "cdp.prom"
    prom.parent.mkdir()
    port = free_port()
    d = daemon_factory(write_config(tmp_path / "c.json", config_for(
        engine, tmpfs, metrics={"textfile": str(prom), "listen": f"127.0.0.1:{port}"})))
    d.wait_ready()
    d.wait_status(lambda s: s.startswith("blocked:") and RUN_STACK in s, what="blocked by the run stack")

    # Before: blocked by the runs gate, nothing pruned, the disk over its threshold.
    before = wait_until(lambda: (m := textfile(prom)).get('ci_docker_prune_state{state="blocked"}') == 1 and m,
                        30, "the textfile to show state blocked")
    assert before['ci_docker_prune_gate_open{gate="runs"}'] == 0
    assert before['ci_docker_prune_gate_open{gate="disk"}'] == 1
    assert before["ci_docker_prune_docker_connected"] == 1
    assert before[PRUNED] == 0 and reclaimed(before) == 0
    assert before["ci_docker_prune_disk_used_ratio"] >= 0.5
    assert before["ci_docker_prune_disk_threshold_ratio"] == 0.5
    assert before["ci_docker_prune_last_prune_timestamp_seconds"] == 0
    status, headers, body = scrape_tcp(port)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert parse(body)[PRUNED] == 0
    # The textfile is world-readable (node_exporter is another user) whatever the umask.
    assert prom.stat().st_mode & 0o777 == 0o644

    # The run ends: the daemon prunes; both outputs count it.
    events_before = before["ci_docker_prune_events_applied_total"]
    engine.remove_service(svc, wait=False)
    wait_until(lambda: not image_exists(engine, dangling), 60, "the dangling image to be pruned")
    d.wait_log("CDP_EVENT=prune_done")
    after = wait_until(lambda: (m := textfile(prom)).get(PRUNED) == 1 and m, 30,
                       "the textfile to count the prune")
    assert reclaimed(after) > 0, after
    assert after['ci_docker_prune_reclaimed_bytes_total{step="images"}'] > 0, after
    assert after["ci_docker_prune_last_prune_timestamp_seconds"] > 1.6e9
    assert after["ci_docker_prune_events_applied_total"] > events_before  # service/container events
    served = parse(scrape_tcp(port)[2])
    assert served[PRUNED] == 1 and reclaimed(served) == reclaimed(after), served
    # A still-full disk after the prune: cooldown, and the textfile follows (last change written).
    wait_until(lambda: textfile(prom).get('ci_docker_prune_state{state="cooldown"}') == 1, 30,
               "the textfile to show state cooldown")
    # Only GET/HEAD /metrics.
    assert scrape_tcp(port, path="/")[0] == 404
    assert scrape_tcp(port, method="POST")[0] == 405
    assert scrape_tcp(port, method="HEAD")[0] == 200
    # No temp file is left beside the textfile.
    assert [p.name for p in prom.parent.iterdir()] == ["cdp.prom"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_output_passes_promtool_over_unix_socket(clean_engine, tmpfs, daemon_factory, tmp_path):  # noqa: F811
    sock = tmp_path / "metrics.sock"
    prom = tmp_path / "cdp.prom"
    d = daemon_factory(write_config(tmp_path / "c.json", config_for(
        clean_engine, tmpfs, threshold=90, metrics={"listen": f"unix:{sock}", "textfile": str(prom)})))
    d.wait_ready()
    d.wait_status(lambda s: s.startswith("idle:"), what="idle")
    body = wait_until(lambda: (r := scrape_unix(sock)) and r[0] == 200
                      and parse(r[2]).get('ci_docker_prune_state{state="idle"}') == 1 and r[2],
                      30, "the listener to show state idle")
    for text in (body, prom.read_text()):
        # promtool lints names, units, _total suffixes and HELP lines; any finding exits non-zero.
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    m = parse(body)
    assert not math.isnan(m["ci_docker_prune_disk_used_ratio"])
    assert m["ci_docker_prune_disk_threshold_ratio"] == 0.9
    assert m['ci_docker_prune_build_info{version="' + d_version(d) + '"}'] == 1
    # A clean stop removes the socket it made.
    d.proc.terminate()
    assert d.proc.wait(timeout=30) == 0
    assert not sock.exists()


def d_version(d):
    out = subprocess.run([d.proc.args[0], "--version"], capture_output=True, text=True).stdout
    return out.split()[-1]
