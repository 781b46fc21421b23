// How `status` (text, --json) and the state file show the emergency tier (issue 11):
// report/emergency_status.* from BusState values, state/last_emergency.* round trip.
#include <catch2/catch.hpp>

#include "policy_fixtures.hpp"
#include "report/emergency_status.hpp"
#include "state/last_emergency.hpp"

using namespace cdp;
using cdp::testfx::t0;

namespace {
std::uint64_t us(TimePoint t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}
BusState with_episode(bool dry_run = false) {
  BusState st;
  st.emergency_enabled = true;
  st.last_emergency_finished_us = us(t0() - std::chrono::minutes(12));
  st.last_emergency_evicted = 3;
  st.last_emergency_reclaimed_bytes = 1'200'000'000;
  st.last_emergency_ended = "target_reached";
  st.last_emergency_dry_run = dry_run;
  return st;
}
}  // namespace

TEST_CASE("status text: the tier on or off, and its last episode", "[emergency][status]") {
  BusState off;
  CHECK(emergency_status_text(off, t0()) == "Emergency tier: off (every tagged image is kept)");
  BusState on;
  on.emergency_enabled = true;
  CHECK(emergency_status_text(on, t0()) == "Emergency tier: on; no episode yet");
  const std::string text = emergency_status_text(with_episode(), t0());
  CHECK(text.starts_with("Emergency tier: on; last episode 12m ago: evicted 3 images (1.2 GB), target_reached (finished "));
  CHECK(emergency_status_text(with_episode(true), t0()).find("would evict 3 images (1.2 GB by their sizes), target_reached, dry-run") !=
        std::string::npos);
}

TEST_CASE("status --json: emergency.enabled and emergency.last_episode", "[emergency][status]") {
  BusState on;
  on.emergency_enabled = true;
  const auto none = emergency_status_json(on);
  CHECK(none["enabled"] == true);
  CHECK(none["last_episode"].is_null());
  const BusState st = with_episode();
  const auto j = emergency_status_json(st);
  CHECK(j["last_episode"]["evicted"] == 3);
  CHECK(j["last_episode"]["reclaimed_bytes"] == 1'200'000'000);
  CHECK(j["last_episode"]["ended"] == "target_reached");
  CHECK(j["last_episode"]["dry_run"] == false);
  CHECK(j["last_episode"]["finished_us"] == st.last_emergency_finished_us);
  CHECK(j["last_episode"]["finished"].get<std::string>().ends_with("Z"));
}

TEST_CASE("state file: the last episode round-trips; a malformed one reads as none", "[emergency][state]") {
  timeline::LastEmergency last{t0(), 4, 5000, "max_images", true};
  auto back = last_emergency_from_json(last_emergency_to_json(last));
  REQUIRE(back);
  CHECK(back->wall == last.wall);
  CHECK(back->evicted == 4);
  CHECK(back->reclaimed == 5000);
  CHECK(back->ended == "max_images");
  CHECK(back->dry_run);
  CHECK_FALSE(last_emergency_from_json(nlohmann::json("x")));
  CHECK_FALSE(last_emergency_from_json(nlohmann::json{{"finished_us", -1}, {"evicted", 1}, {"reclaimed_bytes", 1}, {"ended", "x"}}));
  CHECK_FALSE(last_emergency_from_json(nlohmann::json{{"finished_us", 1}, {"evicted", 1}, {"reclaimed_bytes", 1}}));
}
