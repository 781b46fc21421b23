// The state file (lib/state/): round trip, unknown keys kept, a bad file is a warning and
// never a crash, the write leaves no temp file behind, $STATE_DIRECTORY picks the place.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "state/state_file.hpp"

using namespace cdp;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/cdp-state-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

timeline::LastPrune sample_last_prune() {
  timeline::LastPrune l;
  l.wall = TimePoint(std::chrono::microseconds(1'790'000'000'123'456));
  l.mono = SteadyTime(std::chrono::microseconds(987'654'321));
  l.outcome = "pruned";
  l.reclaimed = 1'234'567'890;
  return l;
}

}  // namespace

TEST_CASE("state file: the last prune round-trips, in the same boot with its monotonic instant", "[state]") {
  TempDir dir;
  const auto path = (dir.path / "state.json").string();
  StateFile f(path);
  REQUIRE(f.save_last_prune(sample_last_prune(), "boot-a"));
  CHECK(fs::exists(path));
  for (const auto& e : fs::directory_iterator(dir.path))  // the temp file was renamed away
    CHECK(e.path().filename() == "state.json");

  StateFile g(path);
  REQUIRE(g.load());
  bool same = false;
  auto last = g.last_prune("boot-a", same);
  REQUIRE(last);
  CHECK(same);
  CHECK(last->wall == sample_last_prune().wall);
  CHECK(last->mono == sample_last_prune().mono);
  CHECK(last->outcome == "pruned");
  CHECK(last->reclaimed == 1'234'567'890);

  SECTION("another boot: the monotonic instant means nothing there") {
    auto other = g.last_prune("boot-b", same);
    REQUIRE(other);
    CHECK_FALSE(same);
    CHECK(other->wall == sample_last_prune().wall);
  }
}

TEST_CASE("state file: keys it does not know survive a rewrite", "[state]") {
  TempDir dir;
  const auto path = dir.path / "state.json";
  write_text(path, R"({"image_last_use": {"sha256:abc": 1700000000}, "last_prune": {"finished_us": 1}})");
  StateFile f(path.string());
  REQUIRE(f.load());
  REQUIRE(f.save_last_prune(sample_last_prune(), "boot-a"));
  const auto j = nlohmann::json::parse(read_text(path));
  CHECK(j["image_last_use"]["sha256:abc"] == 1700000000);
  CHECK(j["last_prune"]["finished_us"] == 1'790'000'000'123'456);
  CHECK(j["last_prune"]["outcome"] == "pruned");
}

TEST_CASE("state file: missing or corrupt is a warning, not a crash", "[state]") {
  TempDir dir;
  const auto path = dir.path / "state.json";
  bool same = true;
  SECTION("missing") {
    StateFile f(path.string());
    auto r = f.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().find(path.string()) != std::string::npos);
    CHECK_FALSE(f.last_prune("b", same));
  }
  SECTION("not JSON") {
    write_text(path, "{\"last_prune\": {\"finished_us\": 12");  // a torn write
    StateFile f(path.string());
    auto r = f.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().find("not a JSON object") != std::string::npos);
    CHECK_FALSE(f.last_prune("b", same));
    // The next prune rewrites it whole.
    REQUIRE(f.save_last_prune(sample_last_prune(), "b"));
    StateFile g(path.string());
    CHECK(g.load());
  }
  SECTION("an array, or a malformed last_prune") {
    write_text(path, "[]");
    StateFile f(path.string());
    CHECK_FALSE(f.load());
    write_text(path, R"({"last_prune": {"finished_us": "yesterday"}})");
    StateFile g(path.string());
    auto r = g.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().find("malformed") != std::string::npos);
    CHECK_FALSE(g.last_prune("b", same));
  }
}

TEST_CASE("state file: an unwritable place fails with a message naming the file", "[state]") {
  StateFile f("/proc/cdp-no-such-dir/state.json");
  auto r = f.save_last_prune(sample_last_prune(), "b");
  REQUIRE_FALSE(r);
  CHECK(r.error().rfind("Failed to write /proc/cdp-no-such-dir/state.json", 0) == 0);
}

TEST_CASE("state file: $STATE_DIRECTORY, else /var/lib/ci-docker-prune", "[state]") {
  const char* saved = std::getenv("STATE_DIRECTORY");
  const std::string keep = saved ? saved : "";
  ::unsetenv("STATE_DIRECTORY");
  CHECK(state_file_path() == "/var/lib/ci-docker-prune/state.json");
  ::setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);  // systemd lists several with ':'
  CHECK(state_file_path() == "/var/lib/a/state.json");
  ::setenv("STATE_DIRECTORY", "/tmp/x/", 1);
  CHECK(state_file_path() == "/tmp/x/state.json");
  if (saved) ::setenv("STATE_DIRECTORY", keep.c_str(), 1);
  else ::unsetenv("STATE_DIRECTORY");
}
