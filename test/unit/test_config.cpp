// The config schema: defaults, every accepted form, and the one-line error for each
// rejected one ("<file>: <key>: <what>", or "<file>:<line>:<col>: <what>" for syntax).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "config/config.hpp"
#include "config_fixtures.hpp"
#include "fixtures_dir.hpp"

using namespace std::chrono_literals;
using cdp::Config;
using cdp::parse_config;
using nlohmann::json;

using cdp::testfx::err;
using cdp::testfx::kConfigFile;
using cdp::testfx::ok;

TEST_CASE("an empty object gives the built-in defaults") {
  Config c = ok("{}");
  CHECK(c.docker.host == "unix:///var/run/docker.sock");
  CHECK(c.docker.socket_path() == "/var/run/docker.sock");
  CHECK_FALSE(c.disk.path.has_value());
  CHECK(c.disk.threshold_percent == 80);
  CHECK(c.disk.inode_threshold_percent == 80);
  CHECK(c.disk.poll_interval == 60s);
  CHECK(c.gates.run_stacks == cdp::kDefaultRunStacks);
  CHECK(std::regex_search("abcd-1a2b3c_ci_commoninternet_net", c.gates.run_stacks_re));
  CHECK(c.gates.stack_labels == std::vector<std::string>{"com.docker.stack.namespace", "com.docker.compose.project"});
  CHECK(c.gates.converge);
  CHECK(c.gates.settle == 10s);
  CHECK(c.gates.stuck_after == 30min);
  CHECK(c.prune.until == "24h");
  CHECK(c.prune.until_duration == 24h);
  CHECK(c.prune.containers);
  CHECK(c.prune.images);
  CHECK(c.prune.build_cache);
  CHECK(c.prune.cooldown == 15min);
  CHECK_FALSE(c.prune.dry_run);
  CHECK(c.log.level == cdp::LogLevel::info);
}

TEST_CASE("the shipped config/config.json is exactly the built-in defaults") {
  std::ifstream in(cdp::testfx::fixtures_dir() + "/../../config/config.json");
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Config shipped = ok(text);
  CHECK(to_json(shipped) == to_json(Config{}));
  CHECK(to_json(shipped) == to_json(ok("{}")));
  // And the file spells every key, so it documents the whole schema, except docker.host:
  // set in the file it would hide $DOCKER_HOST (issue 12), so the file leaves it out.
  CHECK_FALSE(json::parse(text).contains("docker"));
  CHECK(json::parse(text).flatten().size() + 1 == to_json(Config{}).flatten().size());
}

TEST_CASE("every key can be set") {
  Config c = ok(R"({
    "docker": {"host": "unix:///run/docker.sock"},
    "disk": {"path": "/srv/docker", "threshold_percent": 90.5, "inode_threshold_percent": 100,
             "poll_interval": "1m30s"},
    "gates": {"run_stacks": "^ci-", "stack_labels": ["x"], "converge": false,
              "settle": "0s", "stuck_after": "0s"},
    "prune": {"until": "1.5h", "containers": false, "images": false, "build_cache": false,
              "cooldown": "0s", "dry_run": true},
    "log": {"level": "debug"}})");
  CHECK(c.docker.socket_path() == "/run/docker.sock");
  CHECK(c.disk.path == "/srv/docker");
  CHECK(c.disk.threshold_percent == 90.5);
  CHECK(c.disk.inode_threshold_percent == 100);
  CHECK(c.disk.poll_interval == 90s);
  CHECK(std::regex_search("ci-x", c.gates.run_stacks_re));
  CHECK_FALSE(std::regex_search("abcd-1a2b3c_ci_commoninternet_net", c.gates.run_stacks_re));
  CHECK(c.gates.stack_labels == std::vector<std::string>{"x"});
  CHECK_FALSE(c.gates.converge);
  CHECK(c.gates.settle == 0s);
  CHECK(c.gates.stuck_after == 0s);
  CHECK(c.prune.until == "1.5h");  // verbatim for Docker
  CHECK(c.prune.until_duration == 90min);
  CHECK_FALSE(c.prune.containers);
  CHECK_FALSE(c.prune.images);
  CHECK_FALSE(c.prune.build_cache);
  CHECK(c.prune.cooldown == 0s);
  CHECK(c.prune.dry_run);
  CHECK(c.log.level == cdp::LogLevel::debug);

  json j = to_json(c);
  CHECK(j["prune"]["until"] == "1.5h");
  CHECK(j["disk"]["poll_interval"] == "1m30s");
  CHECK(j["disk"]["threshold_percent"] == 90.5);
  CHECK(j["disk"]["path"] == "/srv/docker");
  CHECK(j["gates"]["settle"] == "0s");
  CHECK(j["log"]["level"] == "debug");
  // The rendered config is itself a valid config with the same meaning.
  CHECK(to_json(ok(j.dump())) == j);
}

TEST_CASE("to_json renders every key, disk.path null when unset") {
  json j = to_json(Config{});
  CHECK(j["disk"]["path"].is_null());
  CHECK(j["disk"]["threshold_percent"].dump() == "80");
  CHECK(j["disk"]["poll_interval"] == "1m0s");
  CHECK(j["gates"]["stuck_after"] == "30m0s");
  CHECK(j["prune"]["cooldown"] == "15m0s");
  CHECK(j["docker"]["host"] == "unix:///var/run/docker.sock");
  CHECK(j.size() == 7);  // docker disk gates prune emergency metrics log
}

TEST_CASE("DOCKER_HOST fills docker.host only when the file has none") {
  CHECK(ok("{}", "unix:///tmp/d.sock").docker.host == "unix:///tmp/d.sock");
  CHECK(ok(R"({"docker": {}})", "unix:///tmp/d.sock").docker.host == "unix:///tmp/d.sock");
  CHECK(ok(R"({"docker": {"host": "unix:///a.sock"}})", "unix:///tmp/d.sock").docker.host == "unix:///a.sock");
  // A file that names the host overrides even an unusable DOCKER_HOST.
  CHECK(ok(R"({"docker": {"host": "unix:///a.sock"}})", "tcp://10.0.0.1:2375").docker.host == "unix:///a.sock");
  auto e = err("{}", "tcp://10.0.0.1:2375");
  CHECK_THAT(e, Catch::StartsWith(kConfigFile + ": docker.host: ") && Catch::Contains("DOCKER_HOST") &&
                    Catch::Contains("tcp://10.0.0.1:2375"));
}

TEST_CASE("rejected values name the file and the key") {
  struct Case {
    const char* text;
    const char* prefix;  // "<file>: <key>: " is prepended
    const char* contains;
  };
  const Case cases[] = {
      {R"([])", "(top level)", "expected a JSON object, got array"},
      {R"("x")", "(top level)", "got string"},
      {R"({"dockr": {}})", "dockr", "unknown key"},
      {R"({"gates": {"setle": "10s"}})", "gates.setle", "unknown key (known here: run_stacks"},
      {R"({"log": {"level": "info", "format": "x"}})", "log.format", "unknown key"},
      {R"({"disk": []})", "disk", "expected an object, got array"},
      {R"({"disk": null})", "disk", "expected an object, got null"},
      {R"({"docker": {"host": "tcp://1.2.3.4:2375"}})", "docker.host", "only unix:///absolute/path"},
      {R"({"docker": {"host": "unix://relative.sock"}})", "docker.host", "unsupported"},
      {R"({"docker": {"host": "unix://"}})", "docker.host", "unsupported"},
      {R"({"docker": {"host": 5}})", "docker.host", "expected a string, got number"},
      {R"({"disk": {"path": "var/lib/docker"}})", "disk.path", "absolute path"},
      {R"({"disk": {"path": ""}})", "disk.path", "absolute path"},
      {R"({"disk": {"path": 1}})", "disk.path", "got number"},
      {R"({"disk": {"threshold_percent": 0}})", "disk.threshold_percent", "(0, 100], got 0"},
      {R"({"disk": {"threshold_percent": 101}})", "disk.threshold_percent", "(0, 100], got 101"},
      {R"({"disk": {"threshold_percent": -5}})", "disk.threshold_percent", "(0, 100]"},
      {R"({"disk": {"threshold_percent": 100.01}})", "disk.threshold_percent", "(0, 100]"},
      {R"({"disk": {"threshold_percent": "80"}})", "disk.threshold_percent", "got string"},
      {R"({"disk": {"threshold_percent": true}})", "disk.threshold_percent", "got boolean"},
      {R"({"disk": {"poll_interval": "0s"}})", "disk.poll_interval", "at least 1ms"},
      {R"({"disk": {"poll_interval": "10ns"}})", "disk.poll_interval", "at least 1ms"},
      {R"({"disk": {"poll_interval": 60}})", "disk.poll_interval", "expected a duration string like \"10s\", got number 60"},
      {R"({"gates": {"settle": "10"}})", "gates.settle",
       "invalid duration \"10\" (Go form like 10s, 15m, 1h30m)"},
      {R"({"gates": {"settle": "1d"}})", "gates.settle", "invalid duration \"1d\""},
      {R"({"gates": {"stuck_after": "-5m"}})", "gates.stuck_after", "invalid duration"},
      {R"({"prune": {"until": "1d"}})", "prune.until", "invalid duration"},
      {R"({"prune": {"until": "0s"}})", "prune.until", "greater than 0"},
      {R"({"prune": {"until": "0"}})", "prune.until", "greater than 0"},
      {R"({"prune": {"cooldown": ""}})", "prune.cooldown", "invalid duration \"\""},
      {R"({"gates": {"run_stacks": "(abc"}})", "gates.run_stacks", "invalid ECMAScript regex \"(abc\""},
      {R"({"gates": {"run_stacks": "[z-a]"}})", "gates.run_stacks", "invalid ECMAScript regex"},
      {R"({"gates": {"run_stacks": ""}})", "gates.run_stacks", "must not be empty"},
      {R"({"gates": {"run_stacks": null}})", "gates.run_stacks", "got null"},
      {R"({"gates": {"stack_labels": []}})", "gates.stack_labels", "non-empty array"},
      {R"({"gates": {"stack_labels": "x"}})", "gates.stack_labels", "got string"},
      {R"({"gates": {"stack_labels": ["a", ""]}})", "gates.stack_labels[1]", "must not be empty"},
      {R"({"gates": {"stack_labels": ["a", 3]}})", "gates.stack_labels[1]", "got number"},
      {R"({"gates": {"converge": "yes"}})", "gates.converge", "expected true or false, got string"},
      {R"({"prune": {"dry_run": 1}})", "prune.dry_run", "expected true or false"},
      {R"({"log": {"level": "warning"}})", "log.level", "one of trace, debug, info, warn, error"},
      {R"({"log": {"level": "INFO"}})", "log.level", "\"INFO\""},
      {R"({"prune": {"until": "1h", "until": "2h"}})", "prune.until", "duplicate key"},
      {R"({"log": {}, "log": {}})", "log", "duplicate key"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto e = err(c.text);
    CHECK_THAT(e, Catch::StartsWith(kConfigFile + ": " + c.prefix + ": ") && Catch::Contains(c.contains));
  }
}

TEST_CASE("JSON syntax errors carry line:column") {
  CHECK_THAT(err("{\n  \"disk\": {\n    \"path\": nul\n  }\n}"), Catch::StartsWith(kConfigFile + ":3:"));
  CHECK_THAT(err("{\n  \"a\": 1,\n}"), Catch::StartsWith(kConfigFile + ":3:1: ") && Catch::Contains("syntax error"));
  CHECK_THAT(err("{\"a\" 1}"), Catch::StartsWith(kConfigFile + ":1:6: "));
  CHECK_THAT(err(""), Catch::StartsWith(kConfigFile + ":1:1: ") && !Catch::Contains("[json.exception"));
  CHECK_THAT(err("{} x"), Catch::StartsWith(kConfigFile + ":1:4: "));
  CHECK_THAT(err("{\"log\": {\"level\": \"info\"\n"), Catch::StartsWith(kConfigFile + ":2:"));
  CHECK(err(R"({"disk": {"inode_threshold_percent": 1e400}})") == kConfigFile + ": number overflow parsing '1e400'");
  // Control characters from the document must not break the single line.
  CHECK_THAT(err("{\"a\": \"x\ny\"}"), Catch::StartsWith(kConfigFile + ":1:"));
}

TEST_CASE("parse_log_level and to_string round-trip") {
  for (auto l : {cdp::LogLevel::trace, cdp::LogLevel::debug, cdp::LogLevel::info, cdp::LogLevel::warn,
                 cdp::LogLevel::error})
    CHECK(cdp::parse_log_level(cdp::to_string(l)) == l);
  CHECK_FALSE(cdp::parse_log_level("warning").has_value());
  CHECK_FALSE(cdp::parse_log_level("").has_value());
}

TEST_CASE("load_config reads files; only the default file may be missing") {
  char dir_template[] = "/tmp/cdp-config-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string dir = dir_template;

  SECTION("a missing explicit file is an error naming it") {
    auto c = cdp::load_config(dir + "/missing.json", std::nullopt);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message == dir + "/missing.json: cannot open: No such file or directory");
  }
  SECTION("a directory is an error") {
    auto c = cdp::load_config(dir, std::nullopt);
    REQUIRE_FALSE(c.has_value());
    CHECK_THAT(c.error().message, Catch::StartsWith(dir + ": cannot read"));
  }
  SECTION("a file is parsed with its name in errors") {
    std::string path = dir + "/c.json";
    std::ofstream(path) << R"({"prune": {"until": "48h"}})";
    auto c = cdp::load_config(path, "unix:///x.sock");
    REQUIRE(c.has_value());
    CHECK(c->prune.until == "48h");
    CHECK(c->docker.host == "unix:///x.sock");
    std::ofstream(path) << R"({"prune": {"until": "2d"}})";
    auto bad = cdp::load_config(path, std::nullopt);
    REQUIRE_FALSE(bad.has_value());
    CHECK_THAT(bad.error().message, Catch::StartsWith(path + ": prune.until: "));
    std::remove(path.c_str());
  }
  rmdir(dir.c_str());
}
