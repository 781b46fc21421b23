// The `emergency` section of the config (SPEC "The emergency tier"): its defaults, every
// accepted form, and the one-line error naming the key for each rejected one.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config_fixtures.hpp"

using namespace std::chrono_literals;
using cdp::Config;
using cdp::parse_config;
using nlohmann::json;

using cdp::testfx::err;
using cdp::testfx::kConfigFile;
using cdp::testfx::ok;

TEST_CASE("emergency: defaults are off, 95/85, no keep, 6h, 20 images", "[config][emergency]") {
  const Config c = ok("{}");
  CHECK_FALSE(c.emergency.enabled);
  CHECK(c.emergency.critical_percent == 95);
  CHECK(c.emergency.target_percent == 85);
  CHECK(c.emergency.keep.empty());
  CHECK(c.emergency.keep_re.empty());
  CHECK(c.emergency.min_age == 6h);
  CHECK(c.emergency.max_images == 20);
  CHECK(to_json(c)["emergency"] == json::parse(R"({"enabled": false, "critical_percent": 95,
      "target_percent": 85, "keep": [], "min_age": "6h0m0s", "max_images": 20})"));
}

TEST_CASE("emergency: every key can be set and round-trips", "[config][emergency]") {
  const Config c = ok(R"({"emergency": {"enabled": true, "critical_percent": 97.5, "target_percent": 90,
      "keep": ["^local/base:", "^ci/runner"], "min_age": "1h30m", "max_images": 3}})");
  CHECK(c.emergency.enabled);
  CHECK(c.emergency.critical_percent == 97.5);
  CHECK(c.emergency.target_percent == 90);
  CHECK(c.emergency.keep == std::vector<std::string>{"^local/base:", "^ci/runner"});
  REQUIRE(c.emergency.keep_re.size() == 2);
  CHECK(std::regex_search("local/base:1", c.emergency.keep_re[0]));
  CHECK_FALSE(std::regex_search("other/local/base:1", c.emergency.keep_re[0]));
  CHECK(c.emergency.min_age == 90min);
  CHECK(c.emergency.max_images == 3);
  // check-config's output parses back to the same config.
  const Config again = ok(to_json(c).dump());
  CHECK(to_json(again) == to_json(c));
  CHECK(again.emergency.keep_re.size() == 2);
}

TEST_CASE("emergency: rejected values name the key", "[config][emergency]") {
  struct Case {
    const char* text;
    const char* key;
    const char* contains;
  };
  const Case cases[] = {
      {R"({"emergency": []})", "emergency", "expected an object, got array"},
      {R"({"emergency": {"enable": true}})", "emergency.enable", "unknown key (known here: enabled, critical_percent"},
      {R"({"emergency": {"enabled": "yes"}})", "emergency.enabled", "expected true or false"},
      {R"({"emergency": {"critical_percent": 0}})", "emergency.critical_percent", "(0, 100], got 0"},
      {R"({"emergency": {"critical_percent": 101}})", "emergency.critical_percent", "(0, 100]"},
      {R"({"emergency": {"target_percent": "85"}})", "emergency.target_percent", "got string"},
      {R"({"emergency": {"target_percent": 95}})", "emergency.target_percent",
       "must be below emergency.critical_percent (95), got 95"},
      {R"({"emergency": {"critical_percent": 80}})", "emergency.target_percent",
       "must be below emergency.critical_percent (80), got 85"},
      {R"({"emergency": {"keep": "^base"}})", "emergency.keep", "expected an array of regexes, got string"},
      {R"({"emergency": {"keep": ["ok", "(unclosed"]}})", "emergency.keep[1]", "invalid ECMAScript regex \"(unclosed\""},
      {R"({"emergency": {"keep": [""]}})", "emergency.keep[0]", "must not be empty"},
      {R"({"emergency": {"keep": [3]}})", "emergency.keep[0]", "expected a string, got number"},
      {R"({"emergency": {"min_age": "6"}})", "emergency.min_age", "invalid duration \"6\""},
      {R"({"emergency": {"min_age": "0s"}})", "emergency.min_age", "at least 1ms"},
      {R"({"emergency": {"min_age": 3600}})", "emergency.min_age", "got number 3600"},
      {R"({"emergency": {"max_images": 0}})", "emergency.max_images", "integer >= 1, got 0"},
      {R"({"emergency": {"max_images": -2}})", "emergency.max_images", "integer >= 1, got -2"},
      {R"({"emergency": {"max_images": 2.5}})", "emergency.max_images", "integer >= 1, got 2.5"},
      {R"({"emergency": {"max_images": "20"}})", "emergency.max_images", "integer >= 1, got \"20\""},
      {R"({"emergency": {"min_age": "1h", "min_age": "2h"}})", "emergency.min_age", "duplicate key"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THAT(err(c.text), Catch::StartsWith(kConfigFile + ": " + c.key + ": ") && Catch::Contains(c.contains));
  }
}
