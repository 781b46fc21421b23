"""The NixOS module (nix/module.nix) and package (nix/package.nix), checked offline.

Owns: parsing every Nix file, and evaluating the module with the stub module system of
test/nix/ (no nixpkgs offline, FACTS): the JSON config it renders, the unit it generates
(which must mirror the shipped unit and pass systemd-analyze like it), the assertion
against virtualisation.docker.autoPrune. Must not build anything or touch /nix/store:
nix always runs with --store dummy:// and a private NIX_CONF_DIR.
"""
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from unitfile import parse_unit

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "test" / "nix" / "system.nix"
SHIPPED_UNIT = REPO / "systemd" / "ci-docker-prune.service"
NIX_FILES = sorted([*(REPO / "nix").glob("*.nix"), *(REPO / "test" / "nix").glob("*.nix")])

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                                reason="nix-instantiate not installed (nix-bin)")


@pytest.fixture(scope="module")
def nix_env(tmp_path_factory):
    conf = tmp_path_factory.mktemp("nixconf")
    # Without an empty build-users-group nix wants the nixbld group and a real store.
    (conf / "nix.conf").write_text("build-users-group =\n")
    return {**os.environ, "NIX_CONF_DIR": str(conf), "HOME": str(conf), "NIX_STATE_DIR": str(conf / "state"),
            "NIX_LOG_DIR": str(conf / "log")}


def nix(env, *args):
    return subprocess.run(["nix-instantiate", "--store", "dummy://", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def evaluate(env, tmp_path, *user_modules):
    """Evaluates the module with the given user modules (Nix source texts); returns the
    JSON result (None when evaluation failed) and the finished process."""
    paths = []
    for i, text in enumerate(user_modules):
        p = tmp_path / f"user{i}.nix"
        p.write_text(text)
        paths.append(str(p))
    r = nix(env, "--eval", "--strict", "--json", str(HARNESS), "--arg", "userModules", "[ " + " ".join(paths) + " ]")
    return (json.loads(r.stdout) if r.returncode == 0 else None), r


def render_unit(service):
    """The unit file NixOS writes for systemd.services.<name> (nixos/lib/systemd-lib.nix):
    Description/Documentation/After from the options, then unitConfig; serviceConfig with
    booleans as true/false and lists as repeated lines. [Install] stands in for wantedBy,
    which NixOS implements with symlinks."""
    def value(v):
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    def lines(attrs):
        for k, v in attrs.items():
            for item in (v if isinstance(v, list) else [v]):
                yield f"{k}={value(item)}"

    unit = ["[Unit]", f"Description={service['description']}"]
    if service.get("documentation"):
        unit.append("Documentation=" + " ".join(service["documentation"]))
    if service.get("after"):
        unit.append("After=" + " ".join(service["after"]))
    if service.get("partOf"):
        unit.append("PartOf=" + " ".join(service["partOf"]))
    unit += lines(service.get("unitConfig", {}))
    unit += ["", "[Service]", *lines(service["serviceConfig"])]
    unit += ["", "[Install]", "WantedBy=" + " ".join(service.get("wantedBy", []))]
    return "\n".join(unit) + "\n"


def normalized(settings):
    """Booleans spelled either way compare equal (systemd reads yes/true alike)."""
    canon = {"yes": "true", "true": "true", "no": "false", "false": "false"}
    return {k: [canon.get(v, v) for v in vs] for k, vs in settings.items()}


ENABLED = '{ ... }: { services.ci-docker-prune.enable = true; }'


def test_every_nix_file_parses(nix_env):
    assert any(p.name == "module.nix" for p in NIX_FILES) and any(p.name == "package.nix" for p in NIX_FILES)
    for path in NIX_FILES:
        r = nix(nix_env, "--parse", str(path))
        assert r.returncode == 0, f"{path}: {r.stderr}"


def test_disabled_module_defines_nothing(nix_env, tmp_path):
    res, r = evaluate(nix_env, tmp_path, "{ ... }: { }")
    assert res is not None, r.stderr
    assert res["services"] == {} and res["etc"] == {} and res["dbusPackages"] == []


def test_settings_render_to_the_json_config(nix_env, tmp_path, cdp_bin):
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      '{ ... }: { services.ci-docker-prune.settings = { disk.threshold_percent = 85; '
                      'disk.path = null; prune.until = "48h"; }; }',
                      # A second module adds to the same section: settings merge deeply.
                      '{ ... }: { services.ci-docker-prune.settings.disk.inode_threshold_percent = 90; '
                      'services.ci-docker-prune.settings.gates.run_stacks = "^ci-[0-9a-f]{6}$"; }')
    assert res is not None, r.stderr
    text = res["etc"]["ci-docker-prune/config.json"]["text"]
    assert json.loads(text) == {
        "disk": {"threshold_percent": 85, "path": None, "inode_threshold_percent": 90},
        "prune": {"until": "48h", "dry_run": False},  # declared options carry their defaults
        "gates": {"run_stacks": "^ci-[0-9a-f]{6}$"},  # freeform: any key of the config
    }
    # A change reloads (SIGHUP) rather than restarts the daemon.
    assert res["services"]["ci-docker-prune"]["reloadTriggers"] == [text]
    # The real binary accepts what the module writes.
    cfg = tmp_path / "config.json"
    cfg.write_text(text)
    chk = subprocess.run([cdp_bin, "check-config", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert chk.returncode == 0, chk.stderr
    assert json.loads(chk.stdout)["disk"]["inode_threshold_percent"] == 90


def test_default_settings_mean_all_defaults(nix_env, tmp_path, cdp_bin):
    res, r = evaluate(nix_env, tmp_path, ENABLED)
    assert res is not None, r.stderr
    text = res["etc"]["ci-docker-prune/config.json"]["text"]
    # The documented options (RFC 42 settings) are written with the daemon's own defaults...
    assert json.loads(text) == {"disk": {"threshold_percent": 80, "inode_threshold_percent": 80},
                                "prune": {"until": "24h", "dry_run": False}}
    # ...so the effective config is exactly the daemon's defaults.
    cfg, empty = tmp_path / "config.json", tmp_path / "empty.json"
    cfg.write_text(text)
    empty.write_text("{}")
    got = [subprocess.run([cdp_bin, "check-config", "-c", str(p)], capture_output=True, text=True, timeout=30)
           for p in (cfg, empty)]
    assert all(g.returncode == 0 for g in got) and got[0].stdout == got[1].stdout, got


def test_declared_settings_are_typed(nix_env, tmp_path):
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      "{ ... }: { services.ci-docker-prune.settings.disk.threshold_percent = 250; }")
    assert res is None and "settings.disk.threshold_percent' is not of type" in r.stderr, r.stderr
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      '{ ... }: { services.ci-docker-prune.settings.prune.dry_run = "yes"; }')
    assert res is None and "is not of type `bool'" in r.stderr, r.stderr


def test_generated_unit_mirrors_the_shipped_unit(nix_env, tmp_path):
    res, r = evaluate(nix_env, tmp_path, ENABLED)
    assert res is not None, r.stderr
    service = res["services"]["ci-docker-prune"]
    generated = normalized(parse_unit(render_unit(service)))
    shipped = normalized(parse_unit(SHIPPED_UNIT.read_text()))
    store = res["package"]["storePath"]
    assert generated.pop(("Service", "ExecStart")) == [f"{store}/bin/ci-docker-prune daemon"]
    assert shipped.pop(("Service", "ExecStart")) == ["/usr/bin/ci-docker-prune daemon"]
    # The runbook from the package (NixOS has no /usr/share/doc); the shipped unit's
    # /usr/share/doc is what CMake rewrites to the install prefix.
    assert generated.pop(("Unit", "Documentation")) == [f"file://{store}/share/doc/ci-docker-prune/runbook.md"]
    assert shipped.pop(("Unit", "Documentation")) == ["file:///usr/share/doc/ci-docker-prune/runbook.md"]
    # ExecReload validates with the same binary before it signals (issue 12).
    reload = "/bin/sh -c '{}/bin/ci-docker-prune check-config >/dev/null && kill -HUP $MAINPID'"
    assert generated.pop(("Service", "ExecReload")) == [reload.format(store)]
    assert shipped.pop(("Service", "ExecReload")) == [reload.format("/usr")]
    assert generated == shipped
    assert res["dbusPackages"] == [res["package"]["name"]]  # the bus policy
    assert res["package"]["name"] in res["systemPackages"]  # the CLI for operators


def test_generated_unit_passes_systemd_analyze(nix_env, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    res, r = evaluate(nix_env, tmp_path, ENABLED)
    assert res is not None, r.stderr
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "lib").symlink_to("usr/lib")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy2("/bin/sh", root / "usr/bin/sh")
    binary = root / res["package"]["storePath"].lstrip("/") / "bin/ci-docker-prune"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")  # verify checks that it exists and is executable
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    unit = root / "etc/systemd/system/ci-docker-prune.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(render_unit(res["services"]["ci-docker-prune"]))
    v = subprocess.run([analyze, "verify", f"--root={root}", "/etc/systemd/system/ci-docker-prune.service"],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0 and v.stdout == "" and v.stderr == "", v.stdout + v.stderr
    s = subprocess.run([analyze, "security", "--offline=true", "--threshold=25", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", s.stdout)
    assert m and float(m.group(1)) <= 2.5 and s.returncode == 0, s.stdout + s.stderr


def test_refuses_docker_autoprune(nix_env, tmp_path):
    res, r = evaluate(nix_env, tmp_path, ENABLED,
                      "{ ... }: { virtualisation.docker.autoPrune.enable = true; }")
    assert res is None and r.returncode != 0
    assert "Failed assertions" in r.stderr and "virtualisation.docker.autoPrune" in r.stderr, r.stderr
    # autoPrune alone, without this module enabled, is none of the module's business.
    res, r = evaluate(nix_env, tmp_path, "{ ... }: { virtualisation.docker.autoPrune.enable = true; }")
    assert res is not None, r.stderr


def test_harness_rejects_unknown_options(nix_env, tmp_path):
    """The stub is strict like NixOS: a misspelt option fails evaluation (so the checks
    above would catch a typo in module.nix)."""
    res, r = evaluate(nix_env, tmp_path, "{ ... }: { services.ci-docker-prune.enabel = true; }")
    assert res is None and "services.ci-docker-prune.enabel' does not exist" in r.stderr, r.stderr
    res, r = evaluate(nix_env, tmp_path, '{ ... }: { services.ci-docker-prune.enable = "yes"; }')
    assert res is None and "is not of type `bool'" in r.stderr, r.stderr


def test_package_is_the_cmake_build(nix_env, tmp_path):
    res, r = evaluate(nix_env, tmp_path, ENABLED)
    assert res is not None, r.stderr
    p = res["package"]
    assert p["pname"] == "ci-docker-prune" and p["mainProgram"] == "ci-docker-prune"
    assert p["nativeBuildInputs"] == ["cmake", "pkg-config"]
    assert set(p["buildInputs"]) == {"boost", "nlohmann_json", "spdlog", "systemd", "prometheus-cpp"}
    assert p["checkInputs"] == ["catch2"] and p["doCheck"] is True
    assert p["srcIsCheckout"] is True
    # The version is the CMake project's.
    cmake_version = re.search(r"project\(ci-docker-prune VERSION (\S+)", (REPO / "CMakeLists.txt").read_text())
    assert cmake_version and p["version"] == cmake_version.group(1)
    # No postInstall patching: CMake points the unit at the prefix (next test).
    assert p["postInstall"] is None


def test_cmake_install_points_the_unit_at_the_store(tmp_path):
    """The build phases against the real tree: CMake configured with a store prefix, as
    Nix's cmake hook does, writes the unit with $out's paths; a substituteInPlace of
    /usr/bin (package.nix had one) would match nothing and fail the build (issue 12)."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    out = "/nix/store/00000000000000000000000000000000-ci-docker-prune-0.1.0"
    r = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "b"), f"-DCMAKE_INSTALL_PREFIX={out}",
                        "-DCDP_TESTS=OFF"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    unit = (tmp_path / "b" / "ci-docker-prune.service").read_text()
    assert f"ExecStart={out}/bin/ci-docker-prune daemon" in unit
    assert f"{out}/bin/ci-docker-prune check-config" in unit
    assert f"Documentation=file://{out}/share/doc/ci-docker-prune/runbook.md" in unit
    assert "/usr/bin/" not in unit and "/usr/share/doc" not in unit
    # Any substituteInPlace left in package.nix must still find its text in the unit.
    for old in re.findall(r"--replace-fail\s+(\S+)", (REPO / "nix" / "package.nix").read_text()):
        assert old in unit, f"substituteInPlace --replace-fail {old} matches nothing"


def test_package_source_leaves_out_build_dirs_and_caches(nix_env, tmp_path):
    """lib.cleanSource (the stub mirrors nixpkgs' filter) keeps build/ and .cache/; the
    package's own filter must drop them and keep every tracked top-level entry."""
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True).stdout.split()
    top = sorted({t.split("/")[0] for t in tracked})
    if not top:
        pytest.skip("not a git checkout")
    kinds = {name: ("directory" if (REPO / name).is_dir() else "regular") for name in top}
    junk = {"build": "directory", "build-asan": "directory", ".cache": "directory", ".git": "directory",
            "result": "symlink", "result-doc": "symlink", ".pytest_cache": "directory"}
    entries = [*kinds.items(), *junk.items()]
    nix_list = "[ " + " ".join(f'{{ path = "{REPO}/{n}"; type = "{t}"; }}' for n, t in entries) + " ]"
    r = nix(nix_env, "--eval", "--strict", "--json", str(HARNESS), "--arg", "sourceEntries", nix_list)
    assert r.returncode == 0, r.stderr
    kept = dict(zip([n for n, _ in entries], json.loads(r.stdout)["package"]["sourceKept"]))
    assert all(kept[n] for n in kinds), {n: k for n, k in kept.items() if n in kinds and not k}
    assert not any(kept[n] for n in junk), {n: k for n, k in kept.items() if n in junk}
