// The emergency tier's list mappers (lib/prune/emergency_inputs.*) on answers captured from
// a real dockerd 20.10 (test/fixtures/, made by capture.py): images with two tags and
// "<none>" forms, containers with ImageID, a service updated with a PreviousSpec.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "fixtures_dir.hpp"
#include "prune/emergency_inputs.hpp"

using namespace cdp;
using json = nlohmann::json;

namespace {
json inputs_fixture(const std::string& name) { return cdp::testfx::fixture_json(name); }
}  // namespace

TEST_CASE("map_images: tags and digests without <none> forms, size, created", "[emergency][inputs]") {
  const auto images = map_images(inputs_fixture("images.json"));
  REQUIRE(images.size() == inputs_fixture("images.json").size());
  auto busybox = std::find_if(images.begin(), images.end(), [](const ImageRecord& r) {
    return std::find(r.tags.begin(), r.tags.end(), "local/busybox:1") != r.tags.end();
  });
  REQUIRE(busybox != images.end());
  CHECK(busybox->tags == std::vector<std::string>{"local/busybox:1", "local/busybox:latest"});
  CHECK(busybox->id.rfind("sha256:", 0) == 0);
  CHECK(busybox->size > 1000000);
  CHECK(busybox->created.has_value());
  std::size_t untagged = 0;
  for (const auto& r : images) {
    for (const auto& t : r.tags) CHECK(t != "<none>:<none>");
    for (const auto& d : r.digests) CHECK(d != "<none>@<none>");
    untagged += r.tags.empty();
  }
  CHECK(untagged >= 1);  // the old-style "<none>:<none>" one
  CHECK(map_images(json(nullptr)).empty());
}

TEST_CASE("map_container_uses keeps ImageID of every container", "[emergency][inputs]") {
  const auto all = inputs_fixture("containers-all.json");
  const auto uses = map_container_uses(all);
  REQUIRE(uses.size() == all.size());
  for (const auto& u : uses) {
    CHECK(u.image_id.rfind("sha256:", 0) == 0);
    CHECK_FALSE(u.id.empty());
  }
}

TEST_CASE("map_service_images reads Spec and PreviousSpec", "[emergency][inputs]") {
  const auto services = inputs_fixture("services.json");
  const auto imgs = map_service_images(services);
  std::size_t previous = 0;
  for (const auto& s : services) previous += s.contains("PreviousSpec");
  CHECK(previous >= 1);  // "upd" was updated: its PreviousSpec is there
  CHECK(imgs.size() == services.size() + previous);
  CHECK(std::count(imgs.begin(), imgs.end(), "local/busybox:1") == static_cast<long>(imgs.size()));
  // A literal with a digest-pinned spec (what `docker service create` records when the
  // registry answers) and a previous spec.
  const auto literal = json::parse(R"([{"Spec":{"TaskTemplate":{"ContainerSpec":{"Image":"app:2@sha256:aa"}}},
      "PreviousSpec":{"TaskTemplate":{"ContainerSpec":{"Image":"app:1@sha256:bb"}}}},
      {"Spec":{"TaskTemplate":{"PluginSpec":{}}}}])");
  CHECK(map_service_images(literal) == std::vector<std::string>{"app:2@sha256:aa", "app:1@sha256:bb"});
}
