"""The NixOS module's metrics options (issue 10): services.ci-docker-prune.metrics.textfile
and .listen land in the JSON config and open exactly what the sandbox needs: the
textfile's folder writable; a TCP listener IP sockets on loopback outside the private
network namespace; a unix socket's folder writable. Evaluated with test_nix.py's harness.
"""
import json
import subprocess

from test_nix import ENABLED, evaluate, nix_env  # noqa: F401  (fixture)


def service(res):
    return res["services"]["ci-docker-prune"]["serviceConfig"]


def test_textfile_and_tcp_listen(nix_env, tmp_path, cdp_bin):  # noqa: F811
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      '{ ... }: { services.ci-docker-prune.metrics = { '
                      'textfile = "/var/lib/node-exporter/cdp.prom"; listen = "127.0.0.1:9108"; }; '
                      'services.ci-docker-prune.settings.disk.threshold_percent = 85; }')
    assert res is not None, r.stderr
    text = res["etc"]["ci-docker-prune/config.json"]["text"]
    rendered = json.loads(text)
    # The typed settings (nix/module.nix) render their declared defaults beside what is set.
    assert rendered["metrics"] == {"textfile": "/var/lib/node-exporter/cdp.prom", "listen": "127.0.0.1:9108"}
    assert rendered["disk"]["threshold_percent"] == 85
    sc = service(res)
    assert sc["ReadWritePaths"] == ["/var/lib/node-exporter"]
    assert sc["PrivateNetwork"] is False
    assert sc["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert (sc["IPAddressDeny"], sc["IPAddressAllow"]) == ("any", "localhost")
    cfg = tmp_path / "config.json"
    cfg.write_text(text)
    chk = subprocess.run([cdp_bin, "check-config", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert chk.returncode == 0, chk.stderr


def test_unix_listen_keeps_the_network_sandbox(nix_env, tmp_path):  # noqa: F811
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      '{ ... }: { services.ci-docker-prune.metrics.listen = "unix:/run/cdp-metrics/m.sock"; '
                      'services.ci-docker-prune.settings.metrics.textfile = null; }')
    assert res is not None, r.stderr
    rendered = json.loads(res["etc"]["ci-docker-prune/config.json"]["text"])
    assert rendered["metrics"] == {"textfile": None, "listen": "unix:/run/cdp-metrics/m.sock"}
    sc = service(res)
    assert sc["PrivateNetwork"] is True and sc["RestrictAddressFamilies"] == "AF_UNIX"
    assert "IPAddressAllow" not in sc
    assert sc["ReadWritePaths"] == ["/run/cdp-metrics"]


def test_no_metrics_options_change_nothing(nix_env, tmp_path):  # noqa: F811
    res, r = evaluate(nix_env, tmp_path, ENABLED)
    assert res is not None, r.stderr
    sc = service(res)
    assert "ReadWritePaths" not in sc and sc["PrivateNetwork"] is True
    # Only the typed settings' declared defaults (nix/module.nix), no metrics section.
    assert "metrics" not in json.loads(res["etc"]["ci-docker-prune/config.json"]["text"])
