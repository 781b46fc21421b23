// The metrics room: the names and values in the text format, the prune classification,
// the atomic textfile and its once-a-second coalescing, and the HTTP listener's answers
// (on a unix socket in a temp dir, a plain Beast client on another thread).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "docker/net.hpp"  // Beast: the tests speak HTTP to the listener
#include "prune/executor.hpp"
#include "report/metrics.hpp"
#include "report/metrics_export.hpp"
#include "report/metrics_listener.hpp"
#include "run_client.hpp"

using namespace cdp;
namespace fs = std::filesystem;

namespace {

// The value of one sample line "name{labels} value" in the text, or NaN if absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::nan("");
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/cdp-metrics-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

MetricsInput blocked_input() {
  MetricsInput in;
  in.state = "blocked";
  in.gates = {{"disk", true}, {"runs", false}, {"converge", true}, {"cooldown", true}};
  in.docker_connected = true;
  in.disk_used_ratio = 0.841;
  in.inodes_used_ratio = 0.25;
  in.disk_threshold_ratio = 0.8;
  in.inodes_threshold_ratio = 0.9;
  in.last_prune_finished_seconds = 1700000000.5;
  return in;
}

}  // namespace

TEST_CASE("every metric is there from the start, with its type and help") {
  Metrics m("1.2.3");
  const std::string t = m.text();
  CHECK(sample(t, "ci_docker_prune_build_info{version=\"1.2.3\"}") == 1);
  for (const char* s : {"connecting", "idle", "blocked", "settling", "pruning", "cooldown"})
    CHECK(sample(t, std::string("ci_docker_prune_state{state=\"") + s + "\"}") == 0);
  for (const char* g : {"disk", "runs", "converge", "cooldown"})
    CHECK(sample(t, std::string("ci_docker_prune_gate_open{gate=\"") + g + "\"}") == 0);
  for (const char* o : {"pruned", "failed", "dry_run", "skipped", "deferred"})
    CHECK(sample(t, std::string("ci_docker_prune_prunes_total{outcome=\"") + o + "\"}") == 0);
  for (const char* s : {"containers", "images", "build_cache"})
    CHECK(sample(t, std::string("ci_docker_prune_reclaimed_bytes_total{step=\"") + s + "\"}") == 0);
  for (const char* c : {"emergency_evictions_total", "docker_reconnects_total", "events_applied_total",
                        "model_drifts_total"})
    CHECK(sample(t, std::string("ci_docker_prune_") + c) == 0);
  CHECK(sample(t, "ci_docker_prune_docker_connected") == 0);
  CHECK(sample(t, "ci_docker_prune_last_prune_timestamp_seconds") == 0);
  // Unknown until the disk is read: NaN (every comparison with it is false).
  CHECK(std::isnan(sample(t, "ci_docker_prune_disk_used_ratio")));
  CHECK(t.find("ci_docker_prune_disk_used_ratio Nan") != std::string::npos);
  CHECK(has_line(t, "# TYPE ci_docker_prune_prunes_total counter"));
  CHECK(has_line(t, "# TYPE ci_docker_prune_state gauge"));
  CHECK(t.find("# HELP ci_docker_prune_reclaimed_bytes_total ") != std::string::npos);
  // No other prefix, so a scrape config can match on it.
  std::istringstream in(t);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    INFO(line);
    CHECK((line.starts_with("ci_docker_prune_") || line.starts_with("# HELP ci_docker_prune_") ||
           line.starts_with("# TYPE ci_docker_prune_")));
  }
}

TEST_CASE("update sets the gauges; an unchanged input is not a change") {
  Metrics m("x");
  int changes = 0;
  m.on_change([&] { ++changes; });
  m.update(blocked_input());
  CHECK(changes == 1);
  m.update(blocked_input());
  CHECK(changes == 1);
  const std::string t = m.text();
  CHECK(sample(t, "ci_docker_prune_state{state=\"blocked\"}") == 1);
  CHECK(sample(t, "ci_docker_prune_state{state=\"idle\"}") == 0);
  CHECK(sample(t, "ci_docker_prune_gate_open{gate=\"disk\"}") == 1);
  CHECK(sample(t, "ci_docker_prune_gate_open{gate=\"runs\"}") == 0);
  CHECK(sample(t, "ci_docker_prune_docker_connected") == 1);
  CHECK(sample(t, "ci_docker_prune_disk_used_ratio") == Approx(0.841));
  CHECK(sample(t, "ci_docker_prune_disk_inodes_used_ratio") == Approx(0.25));
  CHECK(sample(t, "ci_docker_prune_disk_threshold_ratio") == Approx(0.8));
  CHECK(sample(t, "ci_docker_prune_disk_inodes_threshold_ratio") == Approx(0.9));
  CHECK(sample(t, "ci_docker_prune_last_prune_timestamp_seconds") == Approx(1700000000.5));

  auto idle = blocked_input();
  idle.state = "idle";
  idle.disk_used_ratio.reset();
  m.update(idle);
  CHECK(changes == 2);
  CHECK(sample(m.text(), "ci_docker_prune_state{state=\"blocked\"}") == 0);
  CHECK(sample(m.text(), "ci_docker_prune_state{state=\"idle\"}") == 1);
  CHECK(std::isnan(sample(m.text(), "ci_docker_prune_disk_used_ratio")));
}

TEST_CASE("counters: prunes by outcome, bytes by step, reconnects after the first connect") {
  Metrics m("x");
  m.prune_finished({"pruned", {100, 2000, 0}});
  m.prune_finished({"pruned", {1, 0, 30}});
  m.prune_finished({"skipped", {}});
  m.docker_connected();  // the first connection
  m.docker_connected();  // after a loss
  m.docker_connected();
  for (int i = 0; i < 5; ++i) m.event_applied();
  m.model_drift();
  m.emergency_eviction();
  const std::string t = m.text();
  CHECK(sample(t, "ci_docker_prune_prunes_total{outcome=\"pruned\"}") == 2);
  CHECK(sample(t, "ci_docker_prune_prunes_total{outcome=\"skipped\"}") == 1);
  CHECK(sample(t, "ci_docker_prune_prunes_total{outcome=\"failed\"}") == 0);
  CHECK(sample(t, "ci_docker_prune_reclaimed_bytes_total{step=\"containers\"}") == 101);
  CHECK(sample(t, "ci_docker_prune_reclaimed_bytes_total{step=\"images\"}") == 2000);
  CHECK(sample(t, "ci_docker_prune_reclaimed_bytes_total{step=\"build_cache\"}") == 30);
  CHECK(sample(t, "ci_docker_prune_docker_reconnects_total") == 2);
  CHECK(sample(t, "ci_docker_prune_events_applied_total") == 5);
  CHECK(sample(t, "ci_docker_prune_model_drifts_total") == 1);
  CHECK(sample(t, "ci_docker_prune_emergency_evictions_total") == 1);
}

TEST_CASE("count_prune classifies a prune as the journal does") {
  using O = StepResult::Outcome;
  auto step = [](PruneStep s, O o, std::uint64_t bytes = 0) {
    StepResult r;
    r.step = s;
    r.outcome = o;
    r.reclaimed = bytes;
    return r;
  };
  PruneResult r;
  SECTION("sent and answered: pruned, bytes by step") {
    r.steps = {step(PruneStep::containers, O::done, 10), step(PruneStep::images, O::done, 20),
               step(PruneStep::build_cache, O::disabled)};
    auto c = count_prune(r, false);
    CHECK(c.outcome == "pruned");
    CHECK(c.reclaimed_bytes == std::array<std::uint64_t, 3>{10, 20, 0});
  }
  SECTION("a step failed: failed, the others' bytes still count") {
    r.steps = {step(PruneStep::containers, O::done, 10), step(PruneStep::images, O::failed)};
    auto c = count_prune(r, false);
    CHECK(c.outcome == "failed");
    CHECK(c.reclaimed_bytes[0] == 10);
  }
  SECTION("dry run: what it would free is not reclaimed") {
    r.steps = {step(PruneStep::containers, O::dry_run, 10)};
    auto c = count_prune(r, true);
    CHECK(c.outcome == "dry_run");
    CHECK(c.reclaimed_bytes == std::array<std::uint64_t, 3>{0, 0, 0});
  }
  SECTION("a gate closed before the first step: skipped") {
    r.steps = {step(PruneStep::containers, O::gate_closed)};
    CHECK(count_prune(r, false).outcome == "skipped");
  }
  SECTION("only 409s: deferred") {
    r.steps = {step(PruneStep::containers, O::deferred)};
    r.any_deferred = true;
    CHECK(count_prune(r, false).outcome == "deferred");
  }
}

TEST_CASE("write_textfile replaces the file atomically, world-readable, no temp left") {
  TempDir dir;
  const auto path = dir.path / "cdp.prom";
  const mode_t old = ::umask(077);  // as under the unit's UMask=0077
  REQUIRE(write_textfile(path, "a 1\n"));
  REQUIRE(write_textfile(path, "a 2\n"));
  ::umask(old);
  CHECK(read_file(path) == "a 2\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  auto e = write_textfile((dir.path / "missing" / "cdp.prom").string(), "x");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error(), Catch::Contains("missing/cdp.prom") && Catch::Contains("No such file"));
}

TEST_CASE("the textfile is written at once, then at most once a second, the last change included") {
  TempDir dir;
  const auto path = dir.path / "cdp.prom";
  asio::io_context io;
  MetricsExport out(io.get_executor(), "x");
  Config::Metrics cfg;
  cfg.textfile = path.string();
  const auto t0 = std::chrono::steady_clock::now();
  out.configure(cfg);
  REQUIRE(sample(read_file(path), "ci_docker_prune_events_applied_total") == 0);
  for (int i = 0; i < 100; ++i) out->event_applied();
  io.poll();
  // Coalesced: nothing new before a second has passed since the first write.
  CHECK(sample(read_file(path), "ci_docker_prune_events_applied_total") == 0);
  io.run_for(std::chrono::seconds(3));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= std::chrono::seconds(1));
  CHECK(sample(read_file(path), "ci_docker_prune_events_applied_total") == 100);
  out->event_applied();
  out.close();  // the final write
  CHECK(sample(read_file(path), "ci_docker_prune_events_applied_total") == 101);
}

namespace {
struct Reply {
  unsigned status = 0;
  std::string content_type, allow, body;
};

// One request over a fresh unix-socket connection (the client side, blocking).
Reply request(const std::string& socket, http::verb verb, const std::string& target,
              std::string extra_header = "") {
  asio::io_context io;
  local_stream::socket s(io);
  s.connect(local_stream::endpoint(socket));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "localhost");
  if (!extra_header.empty()) req.set("X-Big", extra_header);
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.skip(verb == http::verb::head);
  boost::system::error_code ec;
  http::read(s, buf, p, ec);
  if (ec) return {};
  auto res = p.release();
  return {res.result_int(), std::string(res[http::field::content_type]), std::string(res[http::field::allow]),
          res.body()};
}

using cdp::testfx::run_client;
}  // namespace

TEST_CASE("the listener serves GET /metrics only") {
  TempDir dir;
  const std::string sock = (dir.path / "m.sock").string();
  asio::io_context io;
  MetricsListen where;
  where.text = "unix:" + sock;
  where.is_unix = true;
  where.path = sock;
  auto l = MetricsListener::open(io.get_executor(), where, [] { return std::string("cdp_x 1\n"); });
  REQUIRE(l);
  struct stat st {};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0666);

  auto replies = run_client(io, [&] {
    std::vector<Reply> r;
    r.push_back(request(sock, http::verb::get, "/metrics"));
    r.push_back(request(sock, http::verb::get, "/metrics?name[]=x"));
    r.push_back(request(sock, http::verb::head, "/metrics"));
    r.push_back(request(sock, http::verb::get, "/"));
    r.push_back(request(sock, http::verb::post, "/metrics"));
    r.push_back(request(sock, http::verb::get, "/metrics", std::string(20000, 'x')));
    return r;
  });
  CHECK(replies[0].status == 200);
  CHECK(replies[0].body == "cdp_x 1\n");
  CHECK(replies[0].content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(replies[1].status == 200);
  CHECK(replies[2].status == 200);
  CHECK(replies[2].body.empty());
  CHECK(replies[3].status == 404);
  CHECK(replies[4].status == 405);
  CHECK(replies[4].allow == "GET, HEAD");
  CHECK(replies[5].status == 400);  // header over 8 KiB

  // A crashed daemon's socket file is replaced; close() removes it.
  (*l)->close();
  CHECK_FALSE(fs::exists(sock));
  {
    local_stream::acceptor stale(io, local_stream::endpoint(sock));  // leaves the file behind
  }
  REQUIRE(fs::exists(sock));
  auto again = MetricsListener::open(io.get_executor(), where, [] { return std::string(); });
  CHECK(again);
  (*again)->close();
  // Anything else at the path is not ours to delete.
  std::ofstream(sock) << "keep";
  auto refused = MetricsListener::open(io.get_executor(), where, [] { return std::string(); });
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("not a socket"));
  CHECK(read_file(sock) == "keep");
}
