"""The command line and the config as an operator meets them (SPEC.md "Command line",
"Configuration"): exit codes, the one-line error naming file and key, the effective config.
Needs no Docker: check-config and usage errors never contact it."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = Path("/etc/ci-docker-prune/config.json")
ALL_KEYS = {
    "docker": {"host"},
    "disk": {"path", "threshold_percent", "inode_threshold_percent", "poll_interval"},
    "gates": {"run_stacks", "stack_labels", "converge", "settle", "stuck_after"},
    "prune": {"until", "containers", "images", "build_cache", "cooldown", "dry_run"},
    "emergency": {"enabled", "critical_percent", "target_percent", "keep", "min_age", "max_images"},
    "metrics": {"textfile", "listen"},
    "log": {"level"},
}


def run(cdp_bin, *args, env_extra=None, drop_docker_host=True):
    env = dict(os.environ)
    if drop_docker_host:
        env.pop("DOCKER_HOST", None)
    env.pop("JOURNAL_STREAM", None)
    env.update(env_extra or {})
    return subprocess.run([cdp_bin, *args], capture_output=True, text=True, env=env, timeout=30)


def one_error_line(proc):
    """Asserts exit 2, nothing on stdout, exactly one line on stderr; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def check_config(cdp_bin, path, **kw):
    return run(cdp_bin, "check-config", "-c", str(path), **kw)


# --- usage -----------------------------------------------------------------------------

def test_help_lists_commands_and_exit_codes(cdp_bin):
    for flag in ("--help", "-h"):
        p = run(cdp_bin, flag)
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""
        for word in ("daemon", "status", "plan", "prune", "check-config", "--ignore-disk", "--json",
                     "/etc/ci-docker-prune/config.json"):
            assert word in p.stdout
        assert re.search(r"^\s*3\s+unreachable", p.stdout, re.M)


def test_version(cdp_bin):
    p = run(cdp_bin, "--version")
    assert p.returncode == 0
    assert re.fullmatch(r"ci-docker-prune \d+\.\d+\.\d+\n", p.stdout)
    assert p.stderr == ""


@pytest.mark.parametrize("args,needle", [
    ((), "missing command"),
    (("frobnicate",), "unknown command 'frobnicate'"),
    (("plan", "--bogus"), "unknown option '--bogus'"),
    (("check-config", "--json"), "--json is not valid for check-config"),
    (("plan", "--ignore-disk"), "--ignore-disk is not valid for plan"),
    (("status", "-c", "/x.json"), "is not valid for status"),
    (("plan", "--check"), "--check is not valid for plan"),
    (("status", "--check", "--json"), "--check and --json do not go together"),
    (("check-config", "-c"), "needs a file name"),
    (("check-config", "--config="), "needs a file name"),
    (("plan", "extra"), "unexpected argument 'extra'"),
])
def test_usage_errors_exit_2_with_one_line(cdp_bin, args, needle):
    assert needle in one_error_line(run(cdp_bin, *args))


# --- check-config: valid -------------------------------------------------------------------

def effective(cdp_bin, path, **kw):
    p = check_config(cdp_bin, path, **kw)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout.startswith('{\n  "')  # pretty, two spaces
    return json.loads(p.stdout)


def test_check_config_prints_every_key(cdp_bin, tmp_config):
    cfg = effective(cdp_bin, tmp_config())
    assert {k: set(v) for k, v in cfg.items()} == ALL_KEYS
    assert cfg["docker"]["host"] == "unix:///var/run/docker.sock"
    assert cfg["disk"]["path"] is None
    assert cfg["disk"]["threshold_percent"] == 80
    assert cfg["prune"]["until"] == "24h"
    assert cfg["gates"]["settle"] == "10s"
    assert cfg["log"]["level"] == "info"


def test_shipped_config_is_the_defaults(cdp_bin, tmp_config):
    assert effective(cdp_bin, REPO / "config" / "config.json") == effective(cdp_bin, tmp_config())


def test_check_config_keeps_given_values(cdp_bin, tmp_config):
    path = tmp_config(disk={"path": "/srv/docker", "threshold_percent": 92.5},
                      gates={"settle": "0s", "stack_labels": ["x"]},
                      prune={"until": "1h30m", "dry_run": True}, log={"level": "debug"})
    cfg = effective(cdp_bin, path)
    assert cfg["disk"]["path"] == "/srv/docker"
    assert cfg["disk"]["threshold_percent"] == 92.5
    assert cfg["gates"]["settle"] == "0s"
    assert cfg["gates"]["stack_labels"] == ["x"]
    assert cfg["prune"]["until"] == "1h30m"  # verbatim: it is what Docker receives
    assert cfg["prune"]["dry_run"] is True
    assert cfg["log"]["level"] == "debug"
    # The output is itself a valid config meaning the same.
    again = tmp_config(raw=json.dumps(cfg))
    assert effective(cdp_bin, again) == cfg


def test_docker_host_from_environment(cdp_bin, tmp_config):
    env = {"DOCKER_HOST": "unix:///run/other/docker.sock"}
    assert effective(cdp_bin, tmp_config(), env_extra=env)["docker"]["host"] == env["DOCKER_HOST"]
    named = tmp_config(docker={"host": "unix:///srv/d.sock"})
    assert effective(cdp_bin, named, env_extra=env)["docker"]["host"] == "unix:///srv/d.sock"


def test_non_unix_docker_host_in_environment_is_an_error(cdp_bin, tmp_config):
    path = tmp_config()
    line = one_error_line(check_config(cdp_bin, path, env_extra={"DOCKER_HOST": "tcp://10.0.0.1:2375"}))
    assert str(path) in line and "DOCKER_HOST" in line and "tcp://10.0.0.1:2375" in line


@pytest.mark.skipif(DEFAULT_CONFIG.exists(), reason="this host has a real default config")
def test_missing_default_file_means_defaults(cdp_bin, tmp_config):
    p = run(cdp_bin, "check-config")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == effective(cdp_bin, tmp_config())


def test_missing_explicit_file_is_an_error(cdp_bin, tmp_path):
    path = tmp_path / "nope.json"
    line = one_error_line(check_config(cdp_bin, path))
    assert line.startswith(f"{path}: ") and "No such file" in line


# --- check-config: invalid -------------------------------------------------------------

BAD = [
    ({"dockr": {}}, "dockr", "unknown key"),
    ({"gates": {"setle": "10s"}}, "gates.setle", "unknown key"),
    ({"prune": {"untill": "24h"}}, "prune.untill", "unknown key"),
    ({"gates": {"settle": "10"}}, "gates.settle", 'invalid duration "10"'),
    ({"prune": {"until": "1d"}}, "prune.until", 'invalid duration "1d"'),
    ({"prune": {"cooldown": "-5m"}}, "prune.cooldown", "invalid duration"),
    ({"disk": {"poll_interval": "0s"}}, "disk.poll_interval", "at least 1ms"),
    ({"disk": {"threshold_percent": 0}}, "disk.threshold_percent", "(0, 100]"),
    ({"disk": {"threshold_percent": 101}}, "disk.threshold_percent", "(0, 100]"),
    ({"disk": {"inode_threshold_percent": "80"}}, "disk.inode_threshold_percent", "got string"),
    ({"disk": {"path": "relative/dir"}}, "disk.path", "absolute path"),
    ({"gates": {"run_stacks": "([a-z]"}}, "gates.run_stacks", "invalid ECMAScript regex"),
    ({"gates": {"stack_labels": []}}, "gates.stack_labels", "non-empty array"),
    ({"gates": {"converge": "yes"}}, "gates.converge", "true or false"),
    ({"docker": {"host": "tcp://127.0.0.1:2375"}}, "docker.host", "unix:///"),
    ({"log": {"level": "verbose"}}, "log.level", "trace, debug, info, warn, error"),
]


@pytest.mark.parametrize("sections,key,what", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_config_exit_2_names_file_and_key(cdp_bin, tmp_config, sections, key, what):
    path = tmp_config(**sections)
    line = one_error_line(check_config(cdp_bin, path))
    assert line.startswith(f"{path}: {key}: "), line
    assert what in line


def test_top_level_must_be_an_object(cdp_bin, tmp_config):
    path = tmp_config(raw="[1, 2]")
    assert one_error_line(check_config(cdp_bin, path)).startswith(f"{path}: ")


@pytest.mark.parametrize("raw,position", [
    ('{\n  "disk": {\n    "threshold_percent": 80,\n  }\n}\n', "4:3"),
    ('{\n  "prune": {"until": "24h"\n', "3:1"),
    ('{"log": {"level": info}}', "1:19"),
    ("", "1:1"),
])
def test_syntax_error_has_line_and_column(cdp_bin, tmp_config, raw, position):
    path = tmp_config(raw=raw)
    line = one_error_line(check_config(cdp_bin, path))
    assert line.startswith(f"{path}:{position}: "), line
    assert "[json.exception" not in line


@pytest.mark.parametrize("command", ["plan", "prune", "daemon"])
def test_other_commands_reject_a_bad_config_with_exit_2(cdp_bin, tmp_config, command):
    path = tmp_config(gates={"setle": "10s"})
    line = one_error_line(run(cdp_bin, command, "-c", str(path)))
    assert line.startswith(f"{path}: gates.setle: ")
