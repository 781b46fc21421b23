// The metrics section of the config (SPEC.md "Metrics"): metrics.textfile and
// metrics.listen, their accepted forms and the one-line error for each rejected one.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config_fixtures.hpp"

using cdp::Config;
using cdp::parse_config;
using nlohmann::json;

using cdp::testfx::err;
using cdp::testfx::kConfigFile;
using cdp::testfx::ok;

TEST_CASE("metrics are off by default and render as null") {
  Config c = ok("{}");
  CHECK_FALSE(c.metrics.textfile.has_value());
  CHECK_FALSE(c.metrics.listen.has_value());
  json j = to_json(c);
  CHECK(j["metrics"]["textfile"].is_null());
  CHECK(j["metrics"]["listen"].is_null());
  Config nulls = ok(R"({"metrics": {"textfile": null, "listen": null}})");
  CHECK(to_json(nulls) == j);
}

TEST_CASE("metrics.listen accepts loopback TCP and unix sockets") {
  SECTION("IPv4 loopback") {
    Config c = ok(R"({"metrics": {"listen": "127.0.0.1:9108"}})");
    REQUIRE(c.metrics.listen);
    CHECK_FALSE(c.metrics.listen->is_unix);
    CHECK(c.metrics.listen->host == "127.0.0.1");
    CHECK(c.metrics.listen->port == 9108);
  }
  SECTION("anywhere in 127.0.0.0/8, the highest port") {
    Config c = ok(R"({"metrics": {"listen": "127.0.0.2:65535"}})");
    CHECK(c.metrics.listen->port == 65535);
  }
  SECTION("IPv6 loopback in brackets") {
    Config c = ok(R"({"metrics": {"listen": "[::1]:9108"}})");
    CHECK(c.metrics.listen->host == "::1");
    CHECK(c.metrics.listen->port == 9108);
  }
  SECTION("a unix socket") {
    Config c = ok(R"({"metrics": {"listen": "unix:/run/ci-docker-prune/metrics.sock"}})");
    CHECK(c.metrics.listen->is_unix);
    CHECK(c.metrics.listen->path == "/run/ci-docker-prune/metrics.sock");
  }
  SECTION("rendered verbatim and re-parsed to the same meaning") {
    Config c = ok(R"({"metrics": {"listen": "[::1]:9108", "textfile": "/var/lib/node/cdp.prom"}})");
    json j = to_json(c);
    CHECK(j["metrics"]["listen"] == "[::1]:9108");
    CHECK(j["metrics"]["textfile"] == "/var/lib/node/cdp.prom");
    CHECK(to_json(ok(j.dump())) == j);
  }
}

TEST_CASE("rejected metrics values name the file and the key") {
  struct Case {
    const char* text;
    const char* key;
    const char* contains;
  };
  const Case cases[] = {
      {R"({"metrics": {"port": 9108}})", "metrics.port", "unknown key (known here: textfile, listen)"},
      {R"({"metrics": []})", "metrics", "expected an object"},
      {R"({"metrics": {"textfile": "metrics.prom"}})", "metrics.textfile", "absolute file path"},
      {R"({"metrics": {"textfile": "/var/lib/node/"}})", "metrics.textfile", "absolute file path"},
      {R"({"metrics": {"textfile": "/var/lib/node/cdp.txt"}})", "metrics.textfile", "must end in .prom"},
      {R"({"metrics": {"textfile": 1}})", "metrics.textfile", "got number"},
      {R"({"metrics": {"listen": 9108}})", "metrics.listen", "got number"},
      {R"({"metrics": {"listen": "9108"}})", "metrics.listen", "expected HOST:PORT or unix:PATH"},
      {R"({"metrics": {"listen": ":9108"}})", "metrics.listen", "expected an IP address"},
      {R"({"metrics": {"listen": "localhost:9108"}})", "metrics.listen", "expected an IP address (no host names)"},
      {R"({"metrics": {"listen": "0.0.0.0:9108"}})", "metrics.listen", "only a loopback address"},
      {R"({"metrics": {"listen": "10.1.2.3:9108"}})", "metrics.listen", "only a loopback address"},
      {R"({"metrics": {"listen": "[::]:9108"}})", "metrics.listen", "only a loopback address"},
      {R"({"metrics": {"listen": "::1:9108"}})", "metrics.listen", "needs brackets"},
      {R"({"metrics": {"listen": "127.0.0.1:0"}})", "metrics.listen", "port in 1..65535"},
      {R"({"metrics": {"listen": "127.0.0.1:65536"}})", "metrics.listen", "port in 1..65535"},
      {R"({"metrics": {"listen": "127.0.0.1:"}})", "metrics.listen", "port in 1..65535"},
      {R"({"metrics": {"listen": "127.0.0.1:91x"}})", "metrics.listen", "port in 1..65535"},
      {R"({"metrics": {"listen": "unix:relative.sock"}})", "metrics.listen", "absolute socket path"},
      {R"({"metrics": {"listen": "unix:"}})", "metrics.listen", "absolute socket path"},
      {R"({"metrics": {"listen": "unix:/x/"}})", "metrics.listen", "absolute socket path"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto e = err(c.text);
    CHECK_THAT(e, Catch::StartsWith(kConfigFile + ": " + c.key + ": ") && Catch::Contains(c.contains));
  }
  const std::string long_path = "unix:/" + std::string(110, 'a');
  CHECK_THAT(err(R"({"metrics": {"listen": ")" + long_path + "\"}}"), Catch::Contains("longer than 107 bytes"));
}
