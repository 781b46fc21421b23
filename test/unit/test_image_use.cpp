// Last use of each image (lib/model/image_use.*) on event literals shaped like those a
// private dockerd 20.10.24 sent (image import/tag/load, container create/start), and the
// state-file round trip, including a restart that must not make unknown images look old.
#include <catch2/catch.hpp>

#include "model/image_use.hpp"
#include "policy_fixtures.hpp"

using namespace cdp;
using cdp::testfx::t0;
using namespace std::chrono_literals;

namespace {
const std::string kA = "sha256:17f6f3a2b7f3b1332c397cad2e5bff2760cbf08f95fac00328bfd17b826b0833";
const std::string kB = "sha256:b843a0c48d9787fee0d60633a9bf1ab01b310f557859072cc189dd64e1aad005";

std::vector<ImageRecord> images() {
  return {
      ImageRecord{kA, {"local/a:1", "local/a:2"}, {}, 1980000, std::nullopt},
      ImageRecord{kB, {"busybox:latest"}, {"busybox@sha256:feed"}, 1000, std::nullopt},
  };
}

ImageUseEvent ev(std::string type, std::string action, std::string actor, Labels attrs, TimePoint at) {
  return ImageUseEvent{std::move(type), std::move(action), std::move(actor), std::move(attrs), at};
}
}  // namespace

TEST_CASE("familiar_reference normalises like Docker's familiar form", "[emergency][image_use]") {
  CHECK(familiar_reference("busybox") == "busybox:latest");
  CHECK(familiar_reference("docker.io/library/busybox:1") == "busybox:1");
  CHECK(familiar_reference("library/busybox") == "busybox:latest");
  CHECK(familiar_reference("docker.io/me/app") == "me/app:latest");
  CHECK(familiar_reference("host:5000/app") == "host:5000/app:latest");
  CHECK(familiar_reference("host:5000/app:2") == "host:5000/app:2");
  CHECK(familiar_reference("app@sha256:ab") == "app@sha256:ab");
  CHECK(familiar_reference("app:1@sha256:ab") == "app:1@sha256:ab");
  CHECK(familiar_reference(kA) == kA);
}

TEST_CASE("resolve_image takes ids, prefixes, tags and digests", "[emergency][image_use]") {
  const auto imgs = images();
  CHECK(resolve_image(kA, imgs) == kA);
  CHECK(resolve_image("17f6f3a2b7f3", imgs) == kA);
  CHECK_FALSE(resolve_image("17f6f3", imgs));  // too short to be an id prefix
  CHECK(resolve_image("local/a:2", imgs) == kA);
  CHECK(resolve_image("busybox", imgs) == kB);
  CHECK(resolve_image("docker.io/library/busybox:latest", imgs) == kB);
  CHECK(resolve_image("busybox@sha256:feed", imgs) == kB);
  CHECK(resolve_image("busybox:latest@sha256:feed", imgs) == kB);
  CHECK_FALSE(resolve_image("busybox:latest@sha256:other", imgs));  // the digest wins
  CHECK_FALSE(resolve_image("local/a:3", imgs));
  CHECK_FALSE(resolve_image("", imgs));
}

TEST_CASE("uses come from container create/start and image pull/tag/load/import", "[emergency][image_use]") {
  const auto imgs = images();
  ImageUse use;
  use.observe(imgs, t0() - 10h);  // both first seen then
  CHECK(use.last_use(kA) == t0() - 10h);

  SECTION("container create and start, by the name the user gave") {
    CHECK(use.apply(ev("container", "create", "c1", {{"image", "local/a:1"}, {"name", "c1"}}, t0() - 2h), imgs));
    CHECK(use.last_use(kA) == t0() - 2h);
    CHECK(use.apply(ev("container", "start", "c1", {{"image", "local/a:1"}}, t0() - 1h), imgs));
    CHECK(use.last_use(kA) == t0() - 1h);
    // die/destroy are not uses.
    CHECK_FALSE(use.apply(ev("container", "die", "c1", {{"image", "local/a:1"}}, t0()), imgs));
    CHECK(use.last_use(kA) == t0() - 1h);
  }
  SECTION("an older event never moves the last use back") {
    use.note_use(kA, t0() - 1h);
    CHECK(use.apply(ev("container", "start", "c1", {{"image", kA}}, t0() - 3h), imgs));
    CHECK(use.last_use(kA) == t0() - 1h);
  }
  SECTION("image tag, load, import name the id; pull names the reference") {
    CHECK(use.apply(ev("image", "tag", kA, {{"name", "local/a:2"}}, t0() - 5h), imgs));
    CHECK(use.last_use(kA) == t0() - 5h);
    CHECK(use.apply(ev("image", "load", kA, {{"name", kA}}, t0() - 4h), imgs));
    CHECK(use.last_use(kA) == t0() - 4h);
    CHECK(use.apply(ev("image", "import", kA, {{"name", kA}}, t0() - 3h), imgs));
    CHECK(use.last_use(kA) == t0() - 3h);
    CHECK(use.apply(ev("image", "pull", "busybox:latest", {{"name", "busybox"}}, t0() - 2h), imgs));
    CHECK(use.last_use(kB) == t0() - 2h);
  }
  SECTION("untag, save and unknown references are not uses; delete forgets") {
    CHECK_FALSE(use.apply(ev("image", "untag", kA, {{"name", kA}}, t0()), imgs));
    CHECK_FALSE(use.apply(ev("image", "save", kA, {{"name", kA}}, t0()), imgs));
    CHECK_FALSE(use.apply(ev("container", "create", "c2", {{"image", "local/new:1"}}, t0()), imgs));
    CHECK_FALSE(use.apply(ev("network", "connect", "n", {}, t0()), imgs));
    CHECK(use.last_use(kA) == t0() - 10h);
    CHECK_FALSE(use.apply(ev("image", "delete", kA, {{"name", kA}}, t0()), imgs));
    CHECK_FALSE(use.last_use(kA));
  }
}

TEST_CASE("observe: first seen is when the daemon saw it, never the build date", "[emergency][image_use]") {
  ImageUse use;
  use.observe({ImageRecord{kA, {"local/a:1"}, {}, 1, t0() - 24h * 400}}, t0() - 1h);
  CHECK(use.last_use(kA) == t0() - 1h);  // created 400 days ago, first seen 1 h ago
  // A later list keeps what is known, adds newcomers, and forgets images gone.
  use.observe({ImageRecord{kB, {"busybox:latest"}, {}, 1, std::nullopt}}, t0());
  CHECK_FALSE(use.last_use(kA));
  CHECK(use.last_use(kB) == t0());
}

TEST_CASE("the state file keeps last uses; a restart counts unknown images as first seen then", "[emergency][image_use]") {
  ImageUse before;
  before.note_use(kA, t0() - 20h + 123ms);
  const nlohmann::json saved = before.to_json();
  CHECK(saved.is_object());
  CHECK(saved[kA].is_number_integer());

  std::size_t skipped = 99;
  ImageUse after = ImageUse::from_json(saved, &skipped);
  CHECK(skipped == 0);
  CHECK(after.last_use(kA) == t0() - 20h + 123ms);  // sub-second precision survives
  CHECK(saved[kA].get<std::int64_t>() ==
        std::chrono::duration_cast<std::chrono::microseconds>((t0() - 20h + 123ms).time_since_epoch()).count());
  after.observe(images(), t0());                       // the first list after the restart
  CHECK(after.last_use(kA) == t0() - 20h + 123ms);     // known: kept
  CHECK(after.last_use(kB) == t0());                   // unknown to the file: first seen now

  SECTION("bad entries are skipped, a non-object is empty") {
    auto j = nlohmann::json::parse(R"({"sha256:x": 5, "sha256:y": "soon", "sha256:z": -1, "": 3,
                                      "sha256:w": 1e300, "sha256:v": 4102444800000001})");
    ImageUse u = ImageUse::from_json(j, &skipped);
    CHECK(skipped == 5);
    CHECK(u.all().size() == 1);
    CHECK(ImageUse::from_json(nlohmann::json::array(), &skipped).all().empty());
    CHECK(skipped == 1);
  }
}
