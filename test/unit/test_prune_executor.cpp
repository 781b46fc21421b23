// The executor against a fake Docker socket: exactly what is sent (three POSTs, exactly
// the until filter), dry-run sends nothing, a closing gate stops the rest, 409 defers.
#include <catch2/catch.hpp>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 + Asio 1.74 false positive

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_docker_server.hpp"
#include "fixtures_dir.hpp"
#include "prune/executor.hpp"

using namespace cdp;
using namespace cdp::testfx;
using json = nlohmann::json;

namespace {

const char* kContainersAnswer = R"({"ContainersDeleted":["c1","c2"],"SpaceReclaimed":1000})";
const char* kImagesAnswer =
    R"({"ImagesDeleted":[{"Untagged":"repo@sha256:aa"},{"Deleted":"sha256:bb"},{"Deleted":"sha256:cc"}],"SpaceReclaimed":2000000})";
const char* kCacheNullAnswer = R"({"CachesDeleted":null,"SpaceReclaimed":0})";

FakeReply happy(const RecordedRequest& r) {
  if (r.target.find("/containers/prune") != std::string::npos) return {200, kContainersAnswer};
  if (r.target.find("/images/prune") != std::string::npos) return {200, kImagesAnswer};
  if (r.target.find("/build/prune") != std::string::npos) return {200, kCacheNullAnswer};
  return {404, R"({"message":"page not found"})"};
}

PruneResult run(FakeDockerServer& server, const Config::Prune& prune, GateCheck check = {}) {
  return run_coro<PruneResult>([&](asio::any_io_executor ex) -> awaitable<PruneResult> {
    docker::Client client(ex, server.path());
    const TimePoint now = Clock::now();
    auto op = run_prune(client, prune, now, check);  // by-value argument: not a temporary across co_await
    co_return co_await std::move(op);
  });
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }
std::string query_of(const std::string& target) {
  auto q = target.find('?');
  return q == std::string::npos ? "" : target.substr(q + 1);
}

}  // namespace

TEST_CASE("run_prune sends exactly three POSTs with exactly the until filter", "[prune]") {
  FakeDockerServer server(happy);
  Config::Prune prune;  // until 24h, all steps on
  auto res = run(server, prune);

  auto reqs = server.requests();
  REQUIRE(reqs.size() == 3);
  const std::vector<std::string> paths{"/v1.41/containers/prune", "/v1.41/images/prune", "/v1.41/build/prune"};
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(reqs[i].target);
    CHECK(reqs[i].method == "POST");
    CHECK(path_of(reqs[i].target) == paths[i]);
    const std::string q = query_of(reqs[i].target);
    REQUIRE(q.rfind("filters=", 0) == 0);
    CHECK(q.find('&') == std::string::npos);  // no other parameter: no all, no keep-storage
    const std::string decoded = url_decode(q.substr(8));
    CHECK(json::parse(decoded) == json::parse(R"({"until":["24h"]})"));
    CHECK(decoded.find("dangling") == std::string::npos);
    CHECK(decoded.find("all") == std::string::npos);
    CHECK(reqs[i].body.empty());
  }

  REQUIRE(res.steps.size() == 3);
  CHECK(res.steps[0].outcome == StepResult::Outcome::done);
  CHECK(res.steps[0].deleted == std::vector<std::string>{"c1", "c2"});
  CHECK(res.steps[0].reclaimed == 1000);
  CHECK(res.steps[1].deleted == std::vector<std::string>{"repo@sha256:aa", "sha256:bb", "sha256:cc"});
  CHECK(res.steps[1].reclaimed == 2000000);
  CHECK(res.steps[2].outcome == StepResult::Outcome::done);  // CachesDeleted null reads as empty
  CHECK(res.steps[2].deleted.empty());
  CHECK(res.reclaimed == 2001000);
  CHECK_FALSE(res.any_deferred);
  CHECK_FALSE(res.stopped_by_gate);
  CHECK(res.summary == "containers 2 (1.0 kB), images 3 (2.0 MB), build_cache 0 (0 B)");
}

TEST_CASE("run_prune passes prune.until verbatim", "[prune]") {
  FakeDockerServer server(happy);
  Config::Prune prune;
  prune.until = "1h30m";
  prune.until_duration = std::chrono::minutes(90);
  run(server, prune);
  for (const auto& r : server.requests())
    CHECK(json::parse(url_decode(query_of(r.target).substr(8))) == json::parse(R"({"until":["1h30m"]})"));
}

TEST_CASE("disabled steps are not sent", "[prune]") {
  FakeDockerServer server(happy);
  Config::Prune prune;
  prune.containers = false;
  prune.build_cache = false;
  auto res = run(server, prune);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(path_of(reqs[0].target) == "/v1.41/images/prune");
  CHECK(res.steps[0].outcome == StepResult::Outcome::disabled);
  CHECK(res.steps[2].outcome == StepResult::Outcome::disabled);
  CHECK(res.summary == "containers disabled, images 3 (2.0 MB), build_cache disabled");
}

TEST_CASE("a gate closing before step 2 stops steps 2 and 3", "[prune]") {
  FakeDockerServer server(happy);
  int calls = 0;
  GateCheck check = [&]() -> awaitable<std::optional<std::string>> {
    ++calls;
    if (calls == 1) co_return std::nullopt;
    co_return std::string("runs: run stack abcd-1a2b3c_ci_commoninternet_net live");
  };
  auto res = run(server, Config::Prune{}, check);
  CHECK(calls == 2);  // not asked again once closed
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(path_of(reqs[0].target) == "/v1.41/containers/prune");
  CHECK(res.stopped_by_gate);
  CHECK(res.steps[1].outcome == StepResult::Outcome::gate_closed);
  CHECK(res.steps[2].outcome == StepResult::Outcome::gate_closed);
  CHECK(res.steps[1].detail == "runs: run stack abcd-1a2b3c_ci_commoninternet_net live");
  CHECK(res.reclaimed == 1000);
}

TEST_CASE("a gate closed before step 1 sends nothing", "[prune]") {
  FakeDockerServer server(happy);
  GateCheck check = []() -> awaitable<std::optional<std::string>> { co_return std::string("disk: below"); };
  auto res = run(server, Config::Prune{}, check);
  CHECK(server.requests().empty());
  CHECK(res.stopped_by_gate);
  for (const auto& s : res.steps) CHECK(s.outcome == StepResult::Outcome::gate_closed);
}

TEST_CASE("409 defers the step, the others still run; other errors fail with the engine's message", "[prune]") {
  FakeDockerServer server([](const RecordedRequest& r) -> FakeReply {
    if (r.target.find("/containers/prune") != std::string::npos)
      return {409, R"({"message":"a prune operation is already running"})"};
    if (r.target.find("/images/prune") != std::string::npos) return {500, R"({"message":"boom"})"};
    return {200, R"({"CachesDeleted":["x"],"SpaceReclaimed":5})"};
  });
  auto res = run(server, Config::Prune{});
  CHECK(server.requests().size() == 3);
  CHECK(res.steps[0].outcome == StepResult::Outcome::deferred);
  CHECK(res.any_deferred);
  CHECK(res.steps[1].outcome == StepResult::Outcome::failed);
  CHECK(res.steps[1].detail == "HTTP 500: boom");
  CHECK(res.steps[2].outcome == StepResult::Outcome::done);
  CHECK(res.steps[2].deleted == std::vector<std::string>{"x"});
  CHECK(res.reclaimed == 5);
  CHECK(std::string(outcome_name(StepResult::Outcome::deferred)) == "deferred");
}

TEST_CASE("null lists and garbage answers", "[prune]") {
  FakeDockerServer server([](const RecordedRequest& r) -> FakeReply {
    if (r.target.find("/containers/prune") != std::string::npos) return {200, R"({"ContainersDeleted":null,"SpaceReclaimed":0})"};
    if (r.target.find("/images/prune") != std::string::npos) return {200, R"({"ImagesDeleted":null,"SpaceReclaimed":0})"};
    return {200, "not json"};
  });
  auto res = run(server, Config::Prune{});
  CHECK(res.steps[0].outcome == StepResult::Outcome::done);
  CHECK(res.steps[0].deleted.empty());
  CHECK(res.steps[1].outcome == StepResult::Outcome::done);
  CHECK(res.steps[2].outcome == StepResult::Outcome::failed);
}

TEST_CASE("an unreachable socket fails every step without crashing", "[prune]") {
  auto res = run_coro<PruneResult>([](asio::any_io_executor ex) -> awaitable<PruneResult> {
    docker::Client client(ex, "/nonexistent/cdp/docker.sock");
    // Named, not temporaries: GCC 12 destroys braced temporaries in co_await badly.
    const Config::Prune prune;
    const GateCheck none;
    auto op = run_prune(client, prune, Clock::now(), none);
    co_return co_await std::move(op);
  });
  for (const auto& s : res.steps) CHECK(s.outcome == StepResult::Outcome::failed);
}

TEST_CASE("step names", "[prune]") {
  CHECK(std::string(step_name(PruneStep::containers)) == "containers");
  CHECK(std::string(step_name(PruneStep::images)) == "images");
  CHECK(std::string(step_name(PruneStep::build_cache)) == "build_cache");
}

// The structural guarantee (SPEC: "the code has no path that sends them"): prune paths
// appear in lib/prune/executor.cpp only, and no volume/network prune path exists at all.
// Exactly one DELETE exists (lib/prune/evict.cpp, the emergency tier), never with force.
TEST_CASE("prune paths exist only in the executor", "[prune][structure]") {
  namespace fs = std::filesystem;
  const fs::path repo = fs::path(cdp::testfx::fixtures_dir()).parent_path().parent_path();
  int scanned = 0;
  std::size_t image_delete_paths = 0;
  auto count_of = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  for (const char* dir : {"lib", "daemon"}) {
    for (const auto& e : fs::recursive_directory_iterator(repo / dir)) {
      if (!e.is_regular_file()) continue;
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      ++scanned;
      INFO(e.path().string());
      CHECK(text.find("volumes/prune") == std::string::npos);
      CHECK(text.find("networks/prune") == std::string::npos);
      CHECK(text.find("system/prune") == std::string::npos);
      // The emergency tier's one image-delete path (lib/prune/evict.cpp), never forced.
      CHECK(text.find("force=") == std::string::npos);
      CHECK(text.find("noprune") == std::string::npos);
      const auto deletes = count_of(text, "verb::delete_");
      image_delete_paths += deletes;
      if (deletes) CHECK(e.path().lexically_relative(repo).string() == "lib/prune/evict.cpp");
      if (e.path().filename() == "executor.cpp" && e.path().parent_path().filename() == "prune") continue;
      CHECK(text.find("/prune\"") == std::string::npos);
      CHECK(text.find("/prune?") == std::string::npos);
    }
  }
  CHECK(scanned > 10);
  CHECK(image_delete_paths == 1);
}

// Dry-run lists the candidates the engine would remove and sends no POST. The fake
// engine's lists cover the edges of candidates.cpp: age vs until, dangling forms, an
// image still used by a kept container, build-cache types/sharing/use.
TEST_CASE("dry-run lists candidates and sends nothing", "[prune][candidates]") {
  const auto now = Clock::now();
  auto unix_ago = [&](std::chrono::seconds d) {
    return std::chrono::duration_cast<std::chrono::seconds>((now - d).time_since_epoch()).count();
  };
  auto rfc_ago = [&](std::chrono::seconds d) {
    const std::time_t tt = Clock::to_time_t(now - d);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000000000Z", &tm);
    return std::string(buf);
  };
  using namespace std::chrono_literals;
  const json containers = json::array({
      {{"Id", "old-exited"}, {"Names", {"/a"}}, {"Image", "local/busybox:1"}, {"State", "exited"}, {"Created", unix_ago(48h)}, {"Labels", json::object()}},
      {{"Id", "new-exited"}, {"Names", {"/b"}}, {"Image", "local/busybox:1"}, {"State", "exited"}, {"Created", unix_ago(1h)}, {"Labels", json::object()}},
      {{"Id", "old-running"}, {"Names", {"/c"}}, {"Image", "sha256:used"}, {"State", "running"}, {"Created", unix_ago(48h)}, {"Labels", json::object()}},
      {{"Id", "old-created"}, {"Names", {"/d"}}, {"Image", "sha256:freed"}, {"State", "created"}, {"Created", unix_ago(48h)}, {"Labels", json::object()}},
  });
  const json images = json::array({
      {{"Id", "sha256:tagged"}, {"RepoTags", {"local/busybox:1"}}, {"Created", unix_ago(48h)}, {"Size", 100}},
      {{"Id", "sha256:none-null"}, {"RepoTags", nullptr}, {"Created", unix_ago(48h)}, {"Size", 200}},
      {{"Id", "sha256:none-old-style"}, {"RepoTags", {"<none>:<none>"}}, {"Created", unix_ago(48h)}, {"Size", 300}},
      {{"Id", "sha256:digest-only"}, {"RepoTags", json::array()}, {"RepoDigests", {"r@sha256:1"}}, {"Created", unix_ago(48h)}, {"Size", 400}},
      {{"Id", "sha256:young"}, {"RepoTags", json::array()}, {"Created", unix_ago(1h)}, {"Size", 500}},
      {{"Id", "sha256:used"}, {"RepoTags", json::array()}, {"Created", unix_ago(48h)}, {"Size", 600}},
      {{"Id", "sha256:freed"}, {"RepoTags", json::array()}, {"Created", unix_ago(48h)}, {"Size", 700}},
  });
  const json df = {{"BuildCache", json::array({
      {{"ID", "regular-old"}, {"Type", "regular"}, {"InUse", false}, {"Shared", false}, {"Size", 10}, {"LastUsedAt", rfc_ago(48h)}, {"CreatedAt", rfc_ago(72h)}},
      {{"ID", "never-used"}, {"Type", "regular"}, {"InUse", false}, {"Shared", false}, {"Size", 20}, {"LastUsedAt", nullptr}, {"CreatedAt", rfc_ago(1h)}},
      {{"ID", "recent"}, {"Type", "regular"}, {"InUse", false}, {"Shared", false}, {"Size", 30}, {"LastUsedAt", rfc_ago(1h)}},
      {{"ID", "in-use"}, {"Type", "regular"}, {"InUse", true}, {"Shared", false}, {"Size", 40}, {"LastUsedAt", rfc_ago(48h)}},
      {{"ID", "shared"}, {"Type", "regular"}, {"InUse", false}, {"Shared", true}, {"Size", 50}, {"LastUsedAt", rfc_ago(48h)}},
      {{"ID", "internal"}, {"Type", "internal"}, {"InUse", false}, {"Shared", false}, {"Size", 60}, {"LastUsedAt", rfc_ago(48h)}},
      {{"ID", "frontend"}, {"Type", "frontend"}, {"InUse", false}, {"Shared", false}, {"Size", 70}, {"LastUsedAt", rfc_ago(48h)}},
      {{"ID", "source-local"}, {"Type", "source.local"}, {"InUse", false}, {"Shared", false}, {"Size", 80}, {"LastUsedAt", rfc_ago(48h)}},
  })}};
  FakeDockerServer server([&](const RecordedRequest& r) -> FakeReply {
    if (r.target.rfind("/v1.41/containers/json", 0) == 0) return {200, containers.dump()};
    if (r.target.rfind("/v1.41/images/json", 0) == 0) return {200, images.dump()};
    if (r.target.rfind("/v1.41/system/df", 0) == 0) return {200, df.dump()};
    return {404, R"({"message":"unexpected"})"};
  });
  Config::Prune prune;
  prune.dry_run = true;
  auto res = run(server, prune);

  CHECK(server.requests_with_method("POST").empty());
  REQUIRE(res.steps.size() == 3);
  for (const auto& s : res.steps) CHECK(s.outcome == StepResult::Outcome::dry_run);
  CHECK(res.steps[0].deleted == std::vector<std::string>{"old-exited", "old-created"});
  CHECK(res.steps[1].deleted ==
        std::vector<std::string>{"sha256:none-null", "sha256:none-old-style", "sha256:digest-only", "sha256:freed"});
  CHECK(res.steps[1].reclaimed == 200 + 300 + 400 + 700);
  CHECK(res.steps[2].deleted == std::vector<std::string>{"regular-old", "never-used", "source-local"});
  CHECK(res.steps[2].reclaimed == 10 + 20 + 80);
  CHECK(res.summary.rfind("containers would remove 2 (0 B), images would remove 4 (1.6 kB)", 0) == 0);
  // The container list asked for every state (to know which images stay in use).
  auto gets = server.requests_with_method("GET");
  REQUIRE_FALSE(gets.empty());
  CHECK(url_decode(gets[0].target).find("\"exited\"") != std::string::npos);
}
