// The emergency tier's last uses in the state file (StateFile::save_value under
// "image_last_use"): stored beside the last prune and unknown keys, read back after a
// "restart" (a new StateFile on the same path) with the order intact.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "model/image_use.hpp"
#include "state/state_file.hpp"

using namespace cdp;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("image_last_use is saved beside other keys and survives a restart", "[emergency][state]") {
  char tmpl[] = "/tmp/cdp-state-use-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  const std::string path = (dir / "state.json").string();
  std::ofstream(path) << R"({"future_key": {"x": 1}, "last_prune": {"finished_us": 5, "outcome": "pruned"}})";

  StateFile file(path);
  REQUIRE(file.load());
  ImageUse use;
  const TimePoint t = TimePoint{} + 1'790'000'000s;
  use.note_use("sha256:aa", t);
  use.note_use("sha256:bb", t + 1ms);
  REQUIRE(file.save_value(kImageLastUseKey, use.to_json()));

  StateFile again(path);
  REQUIRE(again.load());
  const auto& doc = again.document();
  CHECK(doc["future_key"]["x"] == 1);
  CHECK(doc["last_prune"]["outcome"] == "pruned");
  std::size_t skipped = 9;
  const ImageUse back = ImageUse::from_json(doc[kImageLastUseKey], &skipped);
  CHECK(skipped == 0);
  CHECK(back.last_use("sha256:aa") == t);
  CHECK(back.last_use("sha256:bb") == t + 1ms);
  fs::remove_all(dir);
}
