// The one-line STATUS formatter and byte formatting.
#include <catch2/catch.hpp>

#include "policy/decision.hpp"
#include "policy_fixtures.hpp"
#include "report/status_line.hpp"

using namespace cdp;
using namespace cdp::testfx;

TEST_CASE("format_bytes uses decimal units", "[status]") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(999) == "999 B");
  CHECK(format_bytes(1000) == "1.0 kB");
  CHECK(format_bytes(1234567) == "1.2 MB");
  CHECK(format_bytes(1200000000) == "1.2 GB");
  CHECK(format_bytes(999960000) == "1.0 GB");
  CHECK(format_bytes(3400000000000) == "3.4 TB");
}

TEST_CASE("status_line", "[status]") {
  auto s = open_snapshot();
  auto c = config();
  SchedulerMemory m;
  SECTION("the SPEC's blocked example") {
    s.disk = disk(841, 159);
    s.containers = {container("x", "running", {{"com.docker.stack.namespace", "abcd-1a2b3c_ci_commoninternet_net"}})};
    s.last_prune_finished = t0() - 2h;
    auto d = decide(s, c, at(t0()), m);
    CHECK(status_line(d, s, c, t0(), 1200000000) ==
          "blocked: disk 84.1% >= 80% on /var/lib/docker; run stack abcd-1a2b3c_ci_commoninternet_net live; "
          "0 services converging; last prune 2h ago (1.2 GB)");
  }
  SECTION("idle, no prune yet") {
    s.disk = disk(41, 59);
    auto d = decide(s, c, at(t0()), m);
    CHECK(status_line(d, s, c, t0(), std::nullopt) ==
          "idle: disk 41.0% < 80%, inodes 3.0% < 80% on /var/lib/docker; no run stack live; "
          "0 services converging; no prune yet");
  }
  SECTION("connecting names docker first") {
    s.docker_connected = false;
    auto d = decide(s, c, at(t0()), m);
    CHECK(status_line(d, s, c, t0(), std::nullopt).rfind("connecting: docker unreachable; disk 90.0%", 0) == 0);
  }
  SECTION("stuck services are counted") {
    set_services(s, {service("web", 1, 2, "paused"), service("api", 0, 1, "updating")});
    s.services_latest->services[1].updated_at = t0() - 1min;
    auto d = decide(s, c, at(t0()), m);
    CHECK(status_line(d, s, c, t0(), std::nullopt).find("; 1 service converging, 1 stuck;") != std::string::npos);
  }
  SECTION("cooldown") {
    s.last_prune_finished = t0() - 2min;
    auto d = decide(s, c, at(t0()), m);
    CHECK(status_line(d, s, c, t0(), 0).rfind("cooldown: ", 0) == 0);
    CHECK(status_line(d, s, c, t0(), 0).find("last prune 2m ago (0 B), in cooldown") != std::string::npos);
  }
}
