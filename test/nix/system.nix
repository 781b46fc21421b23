# The harness entry: evaluates nix/module.nix with the stub NixOS options and a user
# module, checks assertions like NixOS does (a failed one aborts evaluation), and returns
# what test/integration/test_nix.py inspects (JSON-friendly: no store paths added).
#   nix-instantiate --eval --strict --json test/nix/system.nix --arg userModules '[ ./a.nix ./b.nix ]'
{ userModules ? [ ], module ? ../../nix/module.nix, sourceEntries ? [ ] }:
let
  lib = import ./lib.nix;
  pkgs = import ./pkgs.nix { inherit lib; };
  evalModules = import ./eval.nix { inherit lib; };
  cfg = (evalModules {
    modules = [ ./nixos-stub.nix module ] ++ userModules;
    specialArgs = { inherit pkgs; };
  }).config;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
  names = map (p: p.name);
  pkg = cfg.services.ci-docker-prune.package;
in
if failed != [ ] then
  throw "Failed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}"
else {
  etc = cfg.environment.etc;
  services = cfg.systemd.services;
  dbusPackages = names cfg.services.dbus.packages;
  systemPackages = names cfg.environment.systemPackages;
  package = {
    inherit (pkg) name pname version;
    storePath = pkg.outPath;
    nativeBuildInputs = names pkg.drvAttrs.nativeBuildInputs;
    buildInputs = names pkg.drvAttrs.buildInputs;
    checkInputs = names pkg.drvAttrs.checkInputs;
    doCheck = pkg.drvAttrs.doCheck;
    postInstall = pkg.drvAttrs.postInstall or null;
    mainProgram = pkg.meta.mainProgram;
    srcIsCheckout = toString (pkg.drvAttrs.src.origSrc or pkg.drvAttrs.src) == toString ../..;
    # The package's source filter applied to [{ path; type; }] (absolute paths, as
    # builtins.path passes them): which entries of a tree would reach the build.
    sourceKept = map (e: pkg.drvAttrs.src.filter e.path e.type) sourceEntries;
  };
}
