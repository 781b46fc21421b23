// The one image-delete path (lib/prune/evict.*) against a fake Docker socket: exactly the
// DELETE requests sent (one per tag, no query, never force), a 409 ends the candidate,
// dry-run and a disabled tier send nothing. Answers shaped like dockerd 20.10's.
#include <catch2/catch.hpp>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 + Asio 1.74 false positive

#include "fake_docker_server.hpp"
#include "prune/evict.hpp"

using namespace cdp;
using namespace cdp::testfx;
using emergency::EvictOutcome;

namespace {

emergency::Verdict two_tags() {
  emergency::Verdict v;
  v.id = "sha256:" + std::string(64, 'c');
  v.tags = {"local/c:1", "local/c:latest"};
  v.size = 300;
  return v;
}

Config enabled() {
  Config c;
  c.emergency.enabled = true;
  return c;
}

EvictOutcome run(FakeDockerServer& server, const Config& config, const emergency::Verdict& v, bool dry_run) {
  return run_coro<EvictOutcome>([&](asio::any_io_executor ex) -> awaitable<EvictOutcome> {
    docker::Client client(ex, server.path());
    auto op = evict_image(client, config, v, dry_run);
    co_return co_await std::move(op);
  });
}

}  // namespace

TEST_CASE("evict: one DELETE per tag, no query string, in order", "[evict]") {
  FakeDockerServer server([](const RecordedRequest& r) -> FakeReply {
    if (r.target == "/v1.41/images/local/c:1") return {200, R"([{"Untagged":"local/c:1"}])"};
    if (r.target == "/v1.41/images/local/c:latest")
      return {200, R"([{"Untagged":"local/c:latest"},{"Deleted":"sha256:cccc"},{"Deleted":"sha256:dddd"}])"};
    return {404, R"({"message":"unexpected"})"};
  });
  auto o = run(server, enabled(), two_tags(), false);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "DELETE");
  CHECK(reqs[0].target == "/v1.41/images/local/c:1");
  CHECK(reqs[1].method == "DELETE");
  CHECK(reqs[1].target == "/v1.41/images/local/c:latest");
  for (const auto& r : reqs) {
    CHECK(r.target.find('?') == std::string::npos);  // no force, no noprune: Docker's defaults
    CHECK(r.body.empty());
  }
  CHECK(o.kind == EvictOutcome::Kind::removed);
  CHECK(o.untagged == std::vector<std::string>{"local/c:1", "local/c:latest"});
  CHECK(o.deleted == std::vector<std::string>{"sha256:cccc", "sha256:dddd"});
}

TEST_CASE("evict: a 409 ends the candidate; the remaining tags are not sent, nothing is forced", "[evict]") {
  // moby image_delete.go's answer for the last tag of an image a stopped container uses.
  const std::string conflict =
      R"({"message":"conflict: unable to remove repository reference \"local/c:1\" (must force) - container 64da307988f8 is using its referenced image 17f6f3a2b7f3"})";
  FakeDockerServer server([&](const RecordedRequest&) -> FakeReply { return {409, conflict}; });
  auto o = run(server, enabled(), two_tags(), false);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].target == "/v1.41/images/local/c:1");
  CHECK(o.kind == EvictOutcome::Kind::conflict);
  CHECK(o.detail.find("local/c:1: HTTP 409: conflict: unable to remove repository reference") == 0);
  CHECK(o.untagged.empty());
}

TEST_CASE("evict: a 409 on the second tag keeps what the first one did", "[evict]") {
  FakeDockerServer server([](const RecordedRequest& r) -> FakeReply {
    if (r.target.ends_with("local/c:1")) return {200, R"([{"Untagged":"local/c:1"}])"};
    return {409, R"({"message":"conflict"})"};
  });
  auto o = run(server, enabled(), two_tags(), false);
  CHECK(server.requests().size() == 2);
  CHECK(o.kind == EvictOutcome::Kind::conflict);
  CHECK(o.untagged == std::vector<std::string>{"local/c:1"});  // counted: the image lost a tag
}

TEST_CASE("evict: 404 (already gone) goes on; 500 and a dead socket fail", "[evict]") {
  SECTION("404") {
    FakeDockerServer server([](const RecordedRequest& r) -> FakeReply {
      if (r.target.ends_with("local/c:1")) return {404, R"({"message":"No such image: local/c:1"})"};
      return {200, R"([{"Untagged":"local/c:latest"},{"Deleted":"sha256:cccc"}])"};
    });
    auto o = run(server, enabled(), two_tags(), false);
    CHECK(server.requests().size() == 2);
    CHECK(o.kind == EvictOutcome::Kind::removed);
    CHECK(o.detail == "already gone: local/c:1");
  }
  SECTION("500") {
    FakeDockerServer server([](const RecordedRequest&) -> FakeReply { return {500, R"({"message":"boom"})"}; });
    auto o = run(server, enabled(), two_tags(), false);
    CHECK(server.requests().size() == 1);
    CHECK(o.kind == EvictOutcome::Kind::failed);
    CHECK(o.detail == "local/c:1: HTTP 500: boom");
  }
  SECTION("no engine") {
    auto o = run_coro<EvictOutcome>([&](asio::any_io_executor ex) -> awaitable<EvictOutcome> {
      docker::Client client(ex, "/nonexistent/docker.sock");
      const Config c = enabled();
      const auto v = two_tags();
      auto op = evict_image(client, c, v, false);
      co_return co_await std::move(op);
    });
    CHECK(o.kind == EvictOutcome::Kind::failed);
    CHECK(o.detail.rfind("Failed to remove local/c:1: ", 0) == 0);
  }
}

TEST_CASE("evict: dry-run and a disabled tier send nothing", "[evict]") {
  FakeDockerServer server([](const RecordedRequest&) -> FakeReply { return {200, "[]"}; });
  auto dry = run(server, enabled(), two_tags(), true);
  CHECK(dry.kind == EvictOutcome::Kind::dry_run);
  auto off = run(server, Config{}, two_tags(), false);
  CHECK(off.kind == EvictOutcome::Kind::refused);
  CHECK(off.detail == "emergency.enabled is false");
  CHECK(server.requests().empty());
}

TEST_CASE("image_delete_target keeps a reference's alphabet and encodes the rest", "[evict]") {
  CHECK(image_delete_target("host:5000/team/app_x.y-z:1.2") == "/images/host:5000/team/app_x.y-z:1.2");
  CHECK(image_delete_target("a b?c#d%") == "/images/a%20b%3Fc%23d%25");
}
