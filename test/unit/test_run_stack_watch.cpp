// watch_run_stacks: the daily "run_stacks never matched" warning, as a timeline on literals.
#include <catch2/catch.hpp>

#include "policy/run_stack_watch.hpp"

using namespace cdp;

namespace {
GateReport report(bool disk_over, std::vector<std::string> live = {}) {
  GateReport r;
  r.gates = {GateVerdict{GateId::disk, disk_over, ""}, GateVerdict{GateId::runs, live.empty(), ""},
             GateVerdict{GateId::converge, true, ""}, GateVerdict{GateId::cooldown, true, ""}};
  r.live_run_stacks = std::move(live);
  return r;
}
const SteadyTime kStart{std::chrono::hours(1000)};
const std::string kPattern = "^x$";
}  // namespace

TEST_CASE("run_stacks never matched: warned when the disk is over, then daily") {
  RunStackWatch w;
  SECTION("below the threshold: no warning") {
    auto v = watch_run_stacks(w, report(false), kPattern, kStart);
    CHECK_FALSE(v.warn);
  }
  SECTION("over the threshold: at once, then not before 24 h, then again") {
    auto v = watch_run_stacks(w, report(true), kPattern, kStart);
    REQUIRE(v.warn);
    CHECK(v.warn->find("^x$") != std::string::npos);
    auto v2 = watch_run_stacks(v.state, report(true), kPattern, kStart + std::chrono::hours(23));
    CHECK_FALSE(v2.warn);
    auto v3 = watch_run_stacks(v2.state, report(true), kPattern, kStart + std::chrono::hours(24));
    CHECK(v3.warn);
  }
  SECTION("a live run stack ends it for good, and asks to persist once") {
    auto v = watch_run_stacks(w, report(true, {"abcd-1a2b3c_ci_commoninternet_net"}), kPattern, kStart);
    CHECK(v.newly_matched);
    CHECK_FALSE(v.warn);
    auto v2 = watch_run_stacks(v.state, report(true), kPattern, kStart + std::chrono::hours(48));
    CHECK_FALSE(v2.warn);
    CHECK_FALSE(v2.newly_matched);
  }
  SECTION("a match remembered in the state file: never warned") {
    w.ever_matched = true;
    CHECK_FALSE(watch_run_stacks(w, report(true), kPattern, kStart).warn);
  }
}
