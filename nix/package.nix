# The ci-docker-prune package: the repository's CMake build (binary, unit, D-Bus policy,
# default config). `pkgs.callPackage ./package.nix { }`. Must not fetch anything: the
# source is this checkout. Checked by test/nix/ (parse + evaluation against a stub pkgs).
{ lib
, stdenv
, cmake
, pkg-config
, boost
, nlohmann_json
, spdlog
, systemd
, prometheus-cpp
, catch2
}:

stdenv.mkDerivation {
  pname = "ci-docker-prune";
  version = "0.1.0";

  # The checkout without VCS files (lib.cleanSource) and without what a developer's tree
  # holds besides the sources: CMake build dirs (build/, build-asan/, ...), caches, nix
  # result links. lib.cleanSource alone keeps build/ and .cache/ (issue 12).
  src = lib.cleanSourceWith {
    src = lib.cleanSource ./..;
    filter = path: type:
      let name = baseNameOf (toString path); in
      !(builtins.elem name [ "build" ".cache" ".pytest_cache" "__pycache__" ".ccache" ]
        || lib.hasPrefix "build-" name
        || lib.hasPrefix "result" name);
  };

  nativeBuildInputs = [ cmake pkg-config ];
  # Boost (Asio/Beast, header-only), nlohmann_json, spdlog (+ fmt), libsystemd (sd-bus,
  # sd_notify, sd-journal), prometheus-cpp (its core: the metrics registry and text
  # format). catch2 is v2 (the suite includes <catch2/catch.hpp>).
  buildInputs = [ boost nlohmann_json spdlog systemd prometheus-cpp ];
  checkInputs = [ catch2 ];

  cmakeFlags = [ "-DCDP_TESTS=ON" ];
  # The unit tests only (ctest runs test/unit); the integration suite needs root, a
  # dockerd and systemd-nspawn.
  doCheck = true;

  # No postInstall: CMake's install already points the shipped unit at
  # $out/bin/ci-docker-prune and its documentation at $out/share/doc/ci-docker-prune
  # (CMakeLists.txt rewrites /usr/bin and /usr/share/doc for the install prefix), so a
  # substituteInPlace of /usr/bin matched nothing and failed the build (issue 12).
  # The docs (runbook, configuration, design) are installed to $out/share/doc/ci-docker-prune.

  meta = {
    description = "Resident daemon that keeps the Docker image cache of a CI host and prunes surgically";
    mainProgram = "ci-docker-prune";
    platforms = lib.platforms.linux;
  };
}
