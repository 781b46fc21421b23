# The NixOS options nix/module.nix reads or defines, declared with NixOS's names and
# types (as far as this harness models them). systemd.services.<name> accepts only real
# NixOS service option names, so a typo there fails the test as it would on NixOS.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  serviceOptionNames = [
    "description" "documentation" "enable" "after" "before" "wants" "requires" "wantedBy"
    "requiredBy" "partOf" "bindsTo" "conflicts" "onFailure" "aliases" "unitConfig"
    "serviceConfig" "environment" "path" "script" "preStart" "postStart" "reloadTriggers"
    "restartTriggers" "reloadIfChanged" "restartIfChanged" "stopIfChanged"
    "startLimitBurst" "startLimitIntervalSec"
  ];
in
{
  options = {
    assertions = mkOption { type = types.listOf types.attrs; default = [ ]; };
    environment.etc = mkOption {
      type = types.attrsOf (types.stubStrictAttrs [ "text" "source" "mode" "user" "group" "enable" "target" ]);
      default = { };
    };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
    services.dbus.packages = mkOption { type = types.listOf types.package; default = [ ]; };
    systemd.services = mkOption { type = types.attrsOf (types.stubStrictAttrs serviceOptionNames); default = { }; };
    virtualisation.docker.autoPrune.enable = mkOption { type = types.bool; default = false; };
  };
}
