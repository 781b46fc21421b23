// The Warnings property and the `status --check` verdict (report/health.hpp), the config
// sanity warnings (config/sanity.hpp) and the config fingerprint (config/file_hash.hpp),
// on literals: every state of the monitoring check and its exit code.
#include <catch2/catch.hpp>

#include <cmath>

#include "config/file_hash.hpp"
#include "config/sanity.hpp"
#include "report/health.hpp"

using cdp::BusState;
using cdp::check_health;
using cdp::collect_warnings;
using cdp::WarningInputs;

namespace {
BusState healthy() {
  BusState s;
  s.state = "idle";
  s.docker_connected = true;
  s.disk_used_percent = 42.14;
  s.disk_inodes_used_percent = 3;
  s.disk_threshold_percent = 80;
  s.disk_inode_threshold_percent = 80;
  return s;
}

bool has_kind(const std::vector<std::string>& ws, std::string_view kind) {
  for (const auto& w : ws)
    if (cdp::warning_kind(w) == kind) return true;
  return false;
}
}  // namespace

TEST_CASE("collect_warnings names each condition once", "[health]") {
  WarningInputs in;
  in.docker_connected = true;
  in.disk_known = true;
  CHECK(collect_warnings(in).empty());

  SECTION("dry run") {
    in.dry_run = true;
    auto w = collect_warnings(in);
    REQUIRE(w.size() == 1);
    CHECK(w[0].starts_with("dry_run: "));
  }
  SECTION("disk unknown only while Docker is connected") {
    in.disk_known = false;
    CHECK(has_kind(collect_warnings(in), "disk_unknown"));
    in.docker_connected = false;
    CHECK(collect_warnings(in).empty());  // unreachable Docker is critical on its own
  }
  SECTION("every step disabled matters only over the threshold") {
    in.any_step_enabled = false;
    CHECK(collect_warnings(in).empty());
    in.disk_over = true;
    CHECK(has_kind(collect_warnings(in), "no_prune_possible"));
  }
  SECTION("still_full lasts while the disk is over") {
    in.still_full = "Still full after the prune";
    CHECK(collect_warnings(in).empty());
    in.disk_over = true;
    CHECK(collect_warnings(in) == std::vector<std::string>{"still_full: Still full after the prune"});
  }
  SECTION("blocked_long") {
    in.blocked_long = "the runs gate has blocked pruning for 1h 5m: run stack x live";
    CHECK(collect_warnings(in) ==
          std::vector<std::string>{"blocked_long: the runs gate has blocked pruning for 1h 5m: run stack x live"});
  }
}

TEST_CASE("status --check: exit code per state, one line", "[health]") {
  BusState s = healthy();
  SECTION("ok") {
    auto r = check_health(s);
    CHECK(r.exit_code == cdp::kCheckOk);
    CHECK(r.line == "OK: idle; disk 42.1% (threshold 80%), inodes 3.0% (threshold 80%)"
                    " | disk_used=42.1%;80;;0;100 inodes_used=3.0%;80;;0;100");
  }
  SECTION("warnings: dry run, blocked_long, still_full") {
    for (const char* w : {"dry_run: prune.dry_run is on", "blocked_long: the runs gate has blocked pruning for 2h",
                          "still_full: Still full after the prune"}) {
      s.warnings = {w};
      auto r = check_health(s);
      CHECK(r.exit_code == cdp::kCheckWarning);
      CHECK(r.line.starts_with(std::string("WARNING: idle; ") + w));
    }
  }
  SECTION("critical: Docker unreachable beats warnings") {
    s.docker_connected = false;
    s.state = "connecting";
    s.warnings = {"dry_run: on"};
    auto r = check_health(s);
    CHECK(r.exit_code == cdp::kCheckCritical);
    CHECK(r.line.starts_with("CRITICAL: connecting; Docker unreachable; dry_run: on"));
  }
  SECTION("critical: over the threshold with no prune possible, or the disk unknown") {
    for (const char* w : {"no_prune_possible: every prune step is disabled", "disk_unknown: cannot read"}) {
      s.warnings = {w};
      CHECK(check_health(s).exit_code == cdp::kCheckCritical);
    }
  }
  SECTION("an unknown disk has no perfdata and never reads 0.0 %") {
    s.disk_used_percent = std::nan("");
    s.disk_inodes_used_percent = std::nan("");
    auto r = check_health(s);
    CHECK(r.line == "OK: idle; disk unknown");
  }
  SECTION("a reason with a newline stays on one line") {
    s.warnings = {"blocked_long: a\nb"};
    CHECK(check_health(s).line.find('\n') == std::string::npos);
  }
}

TEST_CASE("config sanity warnings", "[config][sanity]") {
  cdp::Config c;
  CHECK(cdp::config_warnings(c).empty());  // the defaults are sane
  SECTION("a fraction where a percentage belongs") {
    c.disk.threshold_percent = 0.8;
    auto w = cdp::config_warnings(c);
    REQUIRE(w.size() == 1);
    CHECK(w[0].starts_with("disk.threshold_percent is 0.8: a percentage"));
    CHECK(w[0].find("write 80") != std::string::npos);
  }
  SECTION("edges: 5 % is fine, 4.9 % is not") {
    c.disk.inode_threshold_percent = 5;
    CHECK(cdp::config_warnings(c).empty());
    c.disk.inode_threshold_percent = 4.9;
    CHECK(cdp::config_warnings(c).size() == 1);
  }
  SECTION("until under a minute") {
    c.prune.until = "1ms";
    c.prune.until_duration = std::chrono::milliseconds(1);
    auto w = cdp::config_warnings(c);
    REQUIRE(w.size() == 1);
    CHECK(w[0].starts_with("prune.until is 1ms"));
    c.prune.until = "1m";
    c.prune.until_duration = std::chrono::minutes(1);
    CHECK(cdp::config_warnings(c).empty());
  }
  SECTION("stuck_after: 0s is off, 30s is too short") {
    c.gates.stuck_after = std::chrono::seconds(0);
    CHECK(cdp::config_warnings(c).empty());
    c.gates.stuck_after = std::chrono::seconds(30);
    CHECK(cdp::config_warnings(c).size() == 1);
  }
  SECTION("poll_interval under a second") {
    c.disk.poll_interval = std::chrono::milliseconds(100);
    CHECK(cdp::config_warnings(c).size() == 1);
  }
}

TEST_CASE("config hash: FNV-1a 64 as 16 hex digits", "[config]") {
  // FNV-1a 64 test vectors from the reference implementation's test suite.
  CHECK(cdp::config_hash("") == "cbf29ce484222325");
  CHECK(cdp::config_hash("a") == "af63dc4c8601ec8c");
  CHECK(cdp::config_hash("{}\n") != cdp::config_hash("{} \n"));
  CHECK_FALSE(cdp::config_file_hash("/nonexistent/ci-docker-prune.json").has_value());
}
