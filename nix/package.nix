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

  # The checkout without build dirs and VCS files.
  src = lib.cleanSource ./..;

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

  # The shipped unit names /usr/bin (a distribution's path); in the store the binary is
  # under $out. NixOS uses nix/module.nix, which sets ExecStart itself; this keeps the
  # unit usable via systemd.packages too.
  postInstall = ''
    substituteInPlace $out/lib/systemd/system/ci-docker-prune.service \
      --replace-fail /usr/bin/ci-docker-prune $out/bin/ci-docker-prune
  '';

  meta = {
    description = "Resident daemon that keeps the Docker image cache of a CI host and prunes surgically";
    mainProgram = "ci-docker-prune";
    platforms = lib.platforms.linux;
  };
}
