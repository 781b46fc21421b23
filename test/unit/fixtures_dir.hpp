// Where the captured Docker JSON lives (test/fixtures/ of this checkout), and reading it.
// The path is compiled into fixtures_dir.cpp alone: ccache hashes -D values, so only that
// one small TU misses the cache in a clone in another folder (bench/README.md "Build time").
#pragma once
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace cdp::testfx {
// The absolute path of test/fixtures, without a trailing slash.
std::string fixtures_dir();

// The text of test/fixtures/<name>; throws (a failed test) when it cannot be read.
inline std::string read_fixture(const std::string& name) {
  std::ifstream in(fixtures_dir() + "/" + name);
  if (!in.good()) throw std::runtime_error("cannot read fixture " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// test/fixtures/<name> parsed as JSON.
inline nlohmann::json fixture_json(const std::string& name) { return nlohmann::json::parse(read_fixture(name)); }
}  // namespace cdp::testfx
