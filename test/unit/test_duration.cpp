// Go-style durations: the accepted forms are exactly Go's time.ParseDuration minus signs,
// because prune.until is handed to Docker, which parses it with Go.
#include <catch2/catch.hpp>

#include "util/duration.hpp"

using namespace std::chrono_literals;
using cdp::Duration;
using cdp::format_age;
using cdp::format_duration;
using cdp::parse_duration;

TEST_CASE("parse_duration accepts Go forms") {
  struct Case {
    const char* text;
    Duration want;
  };
  const Case cases[] = {
      {"0", 0ms},          {"0s", 0ms},         {"5s", 5s},          {"90s", 90s},
      {"15m", 15min},      {"1h30m", 90min},    {"24h", 24h},        {"1.5h", 90min},
      {"300ms", 300ms},    {"1h0m0s", 1h},      {".5s", 500ms},      {"5.s", 5s},
      {"1m30.5s", 90500ms}, {"2h45m10s", 2h + 45min + 10s},          {"1500us", 1ms},
      {"1500\xc2\xb5s", 1ms}, {"1500\xce\xbcs", 1ms},               {"999999ns", 0ms},
      {"1000000ns", 1ms},  {"0.001s", 1ms},     {"10s10s", 20s},     {"00010s", 10s},
      {"2562047h", 2562047h},  // just below Go's int64-nanosecond limit (~2562047.8h)
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto got = parse_duration(c.text);
    REQUIRE(got.has_value());
    CHECK(*got == c.want);
  }
}

TEST_CASE("parse_duration rejects everything else") {
  const char* bad[] = {
      "",      "1d",   "-5s",    "+5s",    "5",      "h",       "1h30",   " 5s",   "5s ",
      "5 s",   "5S",   "1w",     ".",      ".s",     "s5",      "1.2.3s", "abc",   "1e3s",
      "0x10s", "1h-5m", "9223372037s",  // > 2^63 ns
      "2562048h", "99999999999999999999s", "-0", "\xc2\xb5s",
  };
  for (const char* text : bad) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("format_duration prints Go's canonical form") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(300ms) == "300ms");
  CHECK(format_duration(10s) == "10s");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(15min) == "15m0s");
  CHECK(format_duration(24h) == "24h0m0s");
  CHECK(format_duration(1h + 5s) == "1h0m5s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(61001ms) == "1m1.001s");
  CHECK(format_duration(-90s) == "-1m30s");
}

TEST_CASE("format_duration round-trips through parse_duration") {
  for (Duration d : {Duration(0ms), Duration(1ms), Duration(999ms), Duration(1001ms), Duration(59s),
                     Duration(3600s), Duration(90061250ms), Duration(24h * 365)}) {
    INFO(d.count());
    auto back = parse_duration(format_duration(d));
    REQUIRE(back.has_value());
    CHECK(*back == d);
  }
}

TEST_CASE("format_age is short and never negative") {
  CHECK(format_age(0ms) == "0s");
  CHECK(format_age(42s) == "42s");
  CHECK(format_age(59999ms) == "59s");
  CHECK(format_age(15min) == "15m");
  CHECK(format_age(2h + 59min) == "2h");
  CHECK(format_age(72h) == "3d");
  CHECK(format_age(-5s) == "0s");
}
