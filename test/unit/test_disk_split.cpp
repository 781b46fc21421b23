// The still_full split (report/disk_split.hpp): /system/df captured from dockerd 20.10
// (test/fixtures/system-df.json) and literals, against filesystem used bytes and until.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "fixtures_dir.hpp"
#include "report/disk_split.hpp"

using cdp::split_disk;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {
json df_fixture() {
  std::ifstream in(cdp::testfx::fixtures_dir() + "/system-df.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}
// 2026-11-27T00:24:50Z: between the fixture's two build rounds (00:24:46 and 00:24:52).
const cdp::TimePoint kAt = cdp::Clock::from_time_t(1795739090);
}  // namespace

TEST_CASE("split of the captured /system/df", "[disk_split]") {
  const json df = df_fixture();
  auto s = split_disk(df, 10'000'000, 1s, kAt);
  REQUIRE(s.has_value());
  // Images: LayersSize 1982476; the one untagged image (45 B, 2020) goes now; the
  // tagged `local/dangling:t24483-1` and the cache images are kept.
  CHECK(s->images.now == 45);
  CHECK(s->images.later == 0);
  CHECK(s->images.kept == 1982476 - 45);
  // Containers: 20.10 omits SizeRw when 0 (omitempty): nothing to reclaim.
  CHECK(s->containers.total() == 0);
  CHECK(s->volumes.total() == 0);  // "Volumes": null
  // Build cache (BuilderSize 174): shared records (20 + 28 + 0) are kept; the private ones
  // last used at 00:24:46 (0 + 39 + 28) are older than 1s, those at 00:24:52 (0 + 20 + 39) not.
  CHECK(s->build_cache.kept == 48);
  CHECK(s->build_cache.now == 67);
  CHECK(s->build_cache.later == 59);
  CHECK(s->build_cache.total() == 174);
  CHECK(s->docker_total() == 1982476 + 174);
  CHECK(s->not_docker == 10'000'000 - (1982476 + 174));

  SECTION("a longer until moves everything to later") {
    auto l = split_disk(df, 10'000'000, 24h * 365 * 10, kAt);
    REQUIRE(l.has_value());
    CHECK(l->now() == 0);
    CHECK(l->later() == 45 + 67 + 59);
  }
  SECTION("Docker counting more than the filesystem holds: not Docker is 0") {
    CHECK(split_disk(df, 1000, 1s, kAt)->not_docker == 0);
  }
}

TEST_CASE("split on literals: containers, volumes, in-use cache", "[disk_split]") {
  const json df = {
      {"LayersSize", 1000},
      {"Images", {{{"RepoTags", nullptr}, {"Size", 300}, {"SharedSize", 100}, {"Created", 0}, {"Containers", 0}},
                  {{"RepoTags", {"<none>:<none>"}}, {"Size", 50}, {"SharedSize", -1}, {"Created", 1795739089},
                   {"Containers", 0}},
                  {{"RepoTags", {"<none>:<none>"}}, {"Size", 70}, {"SharedSize", 0}, {"Created", 0},
                   {"Containers", 1}}}},
      {"Containers", {{{"State", "exited"}, {"Created", 0}, {"SizeRw", 10}},
                      {{"State", "created"}, {"Created", 1795739089}, {"SizeRw", 20}},
                      {{"State", "running"}, {"Created", 0}, {"SizeRw", 40}}}},
      {"Volumes", {{{"Name", "v"}, {"UsageData", {{"Size", 500}, {"RefCount", 0}}}},
                   {{"Name", "w"}, {"UsageData", {{"Size", -1}, {"RefCount", 0}}}}}},
      {"BuildCache", {{{"InUse", true}, {"Shared", false}, {"Size", 7}, {"LastUsedAt", "2020-01-01T00:00:00Z"}}}},
  };
  auto s = split_disk(df, 5000, 1h, kAt);
  REQUIRE(s.has_value());
  CHECK(s->images.now == 200);    // untagged, unused, old: its own 300 - 100
  CHECK(s->images.later == 50);   // one second old
  CHECK(s->images.kept == 750);   // 1000 - 250: shared layers and the image a container uses
  CHECK(s->containers.now == 10);
  CHECK(s->containers.later == 20);  // `created` goes with the prune too, once old enough
  CHECK(s->containers.kept == 40);
  CHECK(s->volumes.kept == 500);     // never pruned; -1 (not computed) counts 0
  CHECK(s->build_cache.kept == 7);   // in use
  CHECK(s->not_docker == 5000 - 1577);

  const std::string line = cdp::still_full_message("Still full after the prune (disk 91.0% >= 80% on /d)", *s, "1h");
  CHECK(line ==
        "Still full after the prune (disk 91.0% >= 80% on /d): of 5.0 kB used, reclaimable now 210 B, reclaimable "
        "later (younger than 1h) 70 B, kept by this policy 1.3 kB (images 750 B, containers 40 B, volumes 500 B, "
        "build cache 7 B), not Docker 3.4 kB");
}

TEST_CASE("split refuses a reply that is not /system/df", "[disk_split]") {
  CHECK_FALSE(split_disk(json::array(), 1, 1s, kAt).has_value());
  CHECK_FALSE(split_disk(json{{"Images", json::array()}}, 1, 1s, kAt).has_value());
}
