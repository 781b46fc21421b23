# A stub `pkgs`: callPackage (arguments by name, like nixpkgs) and fake derivations for
# the build inputs nix/package.nix asks for, under their nixpkgs attribute names.
# stdenv.mkDerivation returns a derivation-shaped set keeping its arguments for checks.
{ lib }:
let
  fakeDrv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  self = {
    inherit lib;
    stdenv.mkDerivation = attrs:
      fakeDrv "${attrs.pname}-${attrs.version}" // {
        inherit (attrs) pname version;
        meta = attrs.meta or { };
        drvAttrs = attrs;
      };
    # nixpkgs' pkgs.formats.json: the settings type and a generator (a store file).
    formats.json = { }: {
      type = lib.types.stubJsonValue;
      generate = name: value: fakeDrv name // { text = builtins.toJSON value; };
    };
    callPackage = fn: overrides:
      let f = if builtins.isFunction fn then fn else import fn;
      in f (builtins.intersectAttrs (builtins.functionArgs f) self // overrides);
  } // builtins.listToAttrs (map (n: { name = n; value = fakeDrv n; })
    [ "cmake" "pkg-config" "boost" "nlohmann_json" "spdlog" "systemd" "prometheus-cpp" "catch2" ]);
in
self
