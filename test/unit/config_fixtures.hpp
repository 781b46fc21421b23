// Parsing a config text in the config tests: ok() for one that must load, err() for one
// that must be refused with one line (for stderr). Shared by the test_config*.cpp files.
#pragma once
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "config/config.hpp"

namespace cdp::testfx {

// The file name the errors name ("<file>: <key>: <what>").
inline const std::string kConfigFile = "/etc/cdp.json";

// The config `text` loads to; fails the test with the error if it does not.
inline Config ok(const std::string& text, std::optional<std::string> env = std::nullopt) {
  auto c = parse_config(text, kConfigFile, env);
  if (!c) FAIL(c.error().message);
  return *c;
}

// The one-line error for `text`; fails the test if it loads.
inline std::string err(const std::string& text, std::optional<std::string> env = std::nullopt) {
  auto c = parse_config(text, kConfigFile, env);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message.find('\n') == std::string::npos);  // one line for stderr
  return c.error().message;
}

}  // namespace cdp::testfx
