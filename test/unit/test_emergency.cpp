// The emergency tier's pure rules (lib/policy/emergency.*) on the issue-11 fixture as
// literals: a keep match, an image only a service's previous spec names, one a stopped
// container uses, one tagged seconds ago, a two-tag image, six with a known LRU order;
// then whole episodes: target stop, max_images stop, 409, gate closing, still_full, dry-run.
#include <catch2/catch.hpp>

#include <algorithm>

#include "policy/emergency.hpp"
#include "policy_fixtures.hpp"

using namespace cdp;
using namespace cdp::emergency;
using cdp::testfx::t0;
using namespace std::chrono_literals;

namespace {

std::string id(char c) { return "sha256:" + std::string(64, c); }

struct Fixture {
  Inputs in;
  ImageUse use;
  Config config;
  Fixture() {
    config.emergency.enabled = true;
    config.emergency.keep = {"^ci/base:"};
    config.emergency.keep_re = {std::regex("^ci/base:", std::regex::ECMAScript)};
    auto add = [&](char c, std::vector<std::string> tags, std::uint64_t size, std::optional<TimePoint> last) {
      in.images.push_back(ImageRecord{id(c), std::move(tags), {}, size, t0() - 24h * 300});
      if (last) use.note_use(id(c), *last);
    };
    // Six eligible ones, listed out of order; their last uses give the order a..f.
    add('d', {"local/d:1"}, 400, t0() - 17h);
    add('a', {"local/a:1"}, 100, t0() - 20h);
    add('f', {"local/f:1"}, 600, t0() - 15h);
    add('c', {"local/c:1", "local/c:latest"}, 300, t0() - 18h);  // two tags
    add('b', {"local/b:1"}, 200, t0() - 19h);
    add('e', {"local/e:1"}, 500, t0() - 16h);
    // Kept, each for one reason, all older than any eligible one.
    add('k', {"ci/base:1"}, 1000, t0() - 30h);                  // keep
    add('p', {"local/prev:1"}, 1000, t0() - 29h);               // previous spec only (by digest)
    in.images.back().digests = {"local/prev@sha256:" + std::string(64, '9')};
    add('s', {"local/stopped:1"}, 1000, t0() - 28h);            // a stopped container uses it
    add('y', {"local/young:1"}, 1000, t0() - 5s);               // tagged seconds ago
    add('r', {"local/run:2"}, 1000, t0() - 27h);                // the current spec, by name
    add('n', {}, 1000, t0() - 40h);                             // dangling: not ours
    add('u', {"local/unknown:1"}, 1000, std::nullopt);          // no recorded use: first seen now
    in.containers = {ContainerUse{"cstopped0000000", "local/stopped:1", id('s')}};
    in.service_images = {"local/run:2", "local/prev:1@sha256:" + std::string(64, '9')};
  }
  std::vector<Verdict> verdicts() const { return classify(in, use, config.emergency, t0()); }
};

std::vector<std::string> ids(const std::vector<Verdict>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.id);
  return out;
}

// A filesystem of 1000 bytes at `percent` used (inodes 10%).
DiskUsage disk_at(double percent) { return testfx::disk(percent * 10, 1000 - percent * 10, 10, 90); }

const Verdict* find(const std::vector<Verdict>& v, char c) {
  auto it = std::find_if(v.begin(), v.end(), [&](const Verdict& x) { return x.id == id(c); });
  return it == v.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("candidates: exactly the eligible images, least recently used first", "[emergency]") {
  Fixture f;
  const auto v = f.verdicts();
  CHECK(ids(candidates(v)) == std::vector<std::string>{id('a'), id('b'), id('c'), id('d'), id('e'), id('f')});
  CHECK(find(v, 'c')->tags == std::vector<std::string>{"local/c:1", "local/c:latest"});
  CHECK(find(v, 'a')->last_use == t0() - 20h);
  CHECK(find(v, 'a')->size == 100);
  // Every kept image, with its reason.
  CHECK(find(v, 'k')->kept == Kept::keep);
  CHECK(find(v, 'k')->detail == "^ci/base: matches ci/base:1");
  CHECK(find(v, 'p')->kept == Kept::service);
  CHECK(find(v, 's')->kept == Kept::in_use);
  CHECK(find(v, 'y')->kept == Kept::young);
  CHECK(find(v, 'r')->kept == Kept::service);
  CHECK(find(v, 'u')->kept == Kept::young);
  CHECK(find(v, 'u')->last_use == t0());
  CHECK(find(v, 'n') == nullptr);  // untagged: the surgical prune's
  CHECK(v.size() == 12);
}

TEST_CASE("candidates: each rule on its own", "[emergency]") {
  Fixture f;
  SECTION("a keep regex matching any one tag keeps the image") {
    f.config.emergency.keep = {"^local/c:latest$"};
    f.config.emergency.keep_re = {std::regex("^local/c:latest$")};
    CHECK(find(f.verdicts(), 'c')->kept == Kept::keep);
    CHECK(find(f.verdicts(), 'k')->kept == Kept::none);  // ci/base no longer kept
  }
  SECTION("min_age is strict: used exactly min_age ago is still young") {
    f.use.note_use(id('a'), t0() - 6h);
    CHECK(find(f.verdicts(), 'a')->kept == Kept::young);
    Fixture g;
    g.use = ImageUse{};
    g.use.note_use(id('a'), t0() - 6h - 1ms);
    CHECK(find(g.verdicts(), 'a')->kept == Kept::none);
  }
  SECTION("a container in any state, matched by ImageID, or by name when ImageID is absent") {
    f.in.containers.push_back(ContainerUse{"c2", "sha256:whatever", id('b')});  // tag moved: ImageID counts
    f.in.containers.push_back(ContainerUse{"c3", "local/d:1", ""});
    const auto v = f.verdicts();
    CHECK(find(v, 'b')->kept == Kept::in_use);
    CHECK(find(v, 'd')->kept == Kept::in_use);
  }
  SECTION("a service spec by name, by digest, by short name, by id") {
    f.in.service_images = {"docker.io/local/a:1", "x/y@sha256:" + std::string(64, '1'), id('e').substr(7, 12)};
    f.in.images[0].digests = {"x/y@sha256:" + std::string(64, '1')};  // local/d's digest
    const auto v = f.verdicts();
    CHECK(find(v, 'a')->kept == Kept::service);
    CHECK(find(v, 'd')->kept == Kept::service);
    CHECK(find(v, 'e')->kept == Kept::service);
    CHECK(find(v, 'b')->kept == Kept::none);
  }
  SECTION("ties in last use are ordered by id") {
    f.use = ImageUse{};
    for (char c : {'a', 'b', 'c', 'd', 'e', 'f', 'k', 'p', 's', 'r'}) f.use.note_use(id(c), t0() - 10h);
    CHECK(ids(candidates(f.verdicts())) == std::vector<std::string>{id('a'), id('b'), id('c'), id('d'), id('e'), id('f')});
  }
}

TEST_CASE("references: a previous spec's repo:tag@digest names the image by either part", "[emergency]") {
  const ImageRecord img{id('p'), {"local/prev:1"}, {"local/prev@sha256:" + std::string(64, '9')}, 1, std::nullopt};
  CHECK(references("local/prev:1", img));
  CHECK(references("local/prev:1@sha256:" + std::string(64, '9'), img));
  CHECK(references("local/prev:0@sha256:" + std::string(64, '9'), img));  // tag moved, digest still here
  CHECK(references("local/prev:1@sha256:" + std::string(64, '8'), img));  // name still here
  CHECK(references("local/prev@sha256:" + std::string(64, '9'), img));
  CHECK_FALSE(references("local/prev:2", img));
  CHECK_FALSE(references("local/prev@sha256:" + std::string(64, '8'), img));
  CHECK_FALSE(references("", img));
}

TEST_CASE("an episode starts only when enabled and at or over critical, bytes or inodes", "[emergency]") {
  Config c;
  CHECK_FALSE(start(disk_at(99), c, false));  // disabled by default
  c.emergency.enabled = true;
  CHECK_FALSE(start(disk_at(94.9), c, false));
  auto s = start(disk_at(95), c, false);
  REQUIRE(s);
  CHECK(s->record.event == "emergency_start");
  CHECK(s->record.severity == timeline::Severity::warn);
  CHECK_FALSE(s->episode.dry_run);
  CHECK(start(testfx::disk(100, 900, 96, 4), c, false));  // inodes 96%
  CHECK(start(disk_at(96), c, true)->episode.dry_run);
}

namespace {
// Runs an episode the way the daemon would: next(), evict (simulated: each removal frees
// the image's size), re-read the disk, until Done. Returns the evicted ids and the Done.
struct Run {
  std::vector<std::string> evicted;
  std::vector<timeline::Journal> records;
  Done done;
};
Run run_episode(Fixture& f, DiskUsage disk, std::function<EvictOutcome(const Verdict&)> docker = {},
                std::function<std::optional<std::string>(std::size_t)> gate = {}) {
  Run r;
  auto s = start(disk, f.config, false);
  REQUIRE(s);
  r.records.push_back(s->record);
  Episode ep = s->episode;
  for (int guard = 0; guard < 100; ++guard) {
    auto verdicts = f.verdicts();
    auto n = next(ep, disk, verdicts, f.config.emergency, gate ? gate(r.evicted.size()) : std::nullopt);
    if (auto* d = std::get_if<Done>(&n)) {
      r.done = *d;
      for (auto& j : d->records) r.records.push_back(j);
      return r;
    }
    const Verdict c = std::get<Evict>(n).candidate;
    EvictOutcome o;
    o.kind = EvictOutcome::Kind::removed;
    o.untagged = c.tags;
    o.deleted = {c.id};
    if (docker) o = docker(c);
    const DiskUsage before = disk;
    if (o.kind == EvictOutcome::Kind::removed) {
      disk.used_bytes -= c.size / 10;  // each image frees a tenth of its size (shared layers)
      disk.avail_bytes += c.size / 10;
      auto& imgs = f.in.images;
      imgs.erase(std::remove_if(imgs.begin(), imgs.end(), [&](const ImageRecord& i) { return i.id == c.id; }), imgs.end());
      r.evicted.push_back(c.id);
    }
    r.records.push_back(record_eviction(ep, c, o, before, disk));
  }
  FAIL("episode did not finish");
  return r;
}
}  // namespace

TEST_CASE("episode: evicts LRU first and stops at target_percent", "[emergency][episode]") {
  Fixture f;
  // 1000 bytes at 97%; a..f free 10, 20, 30, 40, 50, 60 bytes. Target 85%: after a,b,c,d
  // used = 970 - 100 = 870 (87%), after e 820 (82%) <= 85%: stop.
  auto r = run_episode(f, disk_at(97));
  CHECK(r.evicted == std::vector<std::string>{id('a'), id('b'), id('c'), id('d'), id('e')});
  CHECK(r.done.reason == StopReason::target_reached);
  REQUIRE(r.records.size() == 1 + 5 + 1);
  CHECK(r.records.front().event == "emergency_start");
  CHECK(r.records.back().event == "emergency_done");
  const auto& third = r.records[3];  // c: both tags in one record
  CHECK(third.event == "emergency_evict");
  auto field = [](const timeline::Journal& j, const std::string& k) {
    for (const auto& [key, v] : j.fields)
      if (key == k) return v;
    return std::string("<absent>");
  };
  CHECK(field(third, "CDP_IMAGE") == "local/c:1,local/c:latest");
  CHECK(field(third, "CDP_LAST_USED") == format_utc_ms(t0() - 18h));
  CHECK(field(third, "CDP_RECLAIMED_BYTES") == "30");
  CHECK(field(r.records.back(), "CDP_RECLAIMED_BYTES") == "150");
  CHECK(field(r.records.back(), "CDP_EVICTED") == "5");
  CHECK(field(r.records.back(), "CDP_REASON") == "target_reached");
}

TEST_CASE("episode: stops at max_images", "[emergency][episode]") {
  Fixture f;
  f.config.emergency.max_images = 2;
  auto r = run_episode(f, disk_at(99));
  CHECK(r.evicted == std::vector<std::string>{id('a'), id('b')});
  CHECK(r.done.reason == StopReason::max_images);
  REQUIRE(r.done.records.size() == 1);  // no still_full for max_images
  CHECK(r.done.records[0].event == "emergency_done");
}

TEST_CASE("episode: no candidate left -> one still_full naming what remains", "[emergency][episode]") {
  Fixture g;
  for (auto& img : g.in.images) img.size = 10;  // each frees 1 byte: the target is never reached
  auto s = run_episode(g, disk_at(99));
  CHECK(s.evicted.size() == 6);
  CHECK(s.done.reason == StopReason::no_candidates);
  REQUIRE(s.done.records.size() == 2);
  CHECK(s.done.records[0].event == "still_full");
  CHECK(s.done.records[0].severity == timeline::Severity::warn);
  CHECK(s.done.records[0].message ==
        "Emergency tier found nothing more to evict: 6 tagged images (60 B) remain: 1 used by a container, "
        "2 referenced by a service, 1 matching emergency.keep, 2 used within emergency.min_age");
  CHECK(s.done.records[1].event == "emergency_done");
}

TEST_CASE("episode: a 409 ends that candidate (never retried, not counted), the next one goes", "[emergency][episode]") {
  Fixture f;
  f.config.emergency.max_images = 2;
  auto r = run_episode(f, disk_at(99), [](const Verdict& c) {
    EvictOutcome o;
    if (c.id == id('a')) {
      o.kind = EvictOutcome::Kind::conflict;
      o.detail = "local/a:1: HTTP 409: conflict: unable to remove repository reference";
    } else {
      o.kind = EvictOutcome::Kind::removed;
      o.untagged = c.tags;
    }
    return o;
  });
  CHECK(r.evicted == std::vector<std::string>{id('b'), id('c')});
  CHECK(r.done.reason == StopReason::max_images);
  CHECK(r.records[1].event == "emergency_evict");
  CHECK(r.records[1].severity == timeline::Severity::warn);
  CHECK(r.records[1].message.find("not forced") != std::string::npos);
}

TEST_CASE("episode: a gate closing (a run stack went live) stops it before the next image", "[emergency][episode]") {
  Fixture f;
  auto r = run_episode(f, disk_at(99), {}, [](std::size_t evicted) -> std::optional<std::string> {
    if (evicted == 2) return "runs: run stack abcd-1a2b3c_ci_commoninternet_net live";
    return std::nullopt;
  });
  CHECK(r.evicted.size() == 2);
  CHECK(r.done.reason == StopReason::gate_closed);
  CHECK(r.done.records.back().message.find("abcd-1a2b3c") != std::string::npos);
}

TEST_CASE("episode: an unreadable disk or stopping ends it; nothing is evicted blind", "[emergency][episode]") {
  Fixture f;
  Episode ep;
  const auto v = f.verdicts();
  auto n = next(ep, std::nullopt, v, f.config.emergency, std::nullopt);
  REQUIRE(std::holds_alternative<Done>(n));
  CHECK(std::get<Done>(n).reason == StopReason::disk_unknown);
  n = next(ep, disk_at(99), v, f.config.emergency, std::nullopt, true);
  CHECK(std::get<Done>(n).reason == StopReason::stopping);
  n = next(ep, disk_at(99), v, f.config.emergency, std::nullopt);
  CHECK(std::get<Evict>(n).candidate.id == id('a'));
}

TEST_CASE("episode: dry-run lists in order, projecting the sizes, and sends nothing", "[emergency][episode]") {
  Fixture f;
  auto s = start(disk_at(97), f.config, true);
  REQUIRE(s);
  Episode ep = s->episode;
  std::vector<std::string> listed;
  // The disk never changes; the projection subtracts the sizes listed: a (100) -> 870
  // (87%), b (200) -> 670 (67%) <= 85%: stop after two.
  for (int i = 0; i < 10; ++i) {
    auto n = next(ep, disk_at(97), f.verdicts(), f.config.emergency, std::nullopt);
    if (std::holds_alternative<Done>(n)) {
      CHECK(std::get<Done>(n).reason == StopReason::target_reached);
      break;
    }
    const auto& e = std::get<Evict>(n);
    CHECK(e.dry_run);
    EvictOutcome o;
    o.kind = EvictOutcome::Kind::dry_run;
    auto rec = record_eviction(ep, e.candidate, o, disk_at(97), disk_at(97));
    CHECK(rec.message.rfind("Would evict", 0) == 0);
    listed.push_back(e.candidate.id);
  }
  CHECK(listed == std::vector<std::string>{id('a'), id('b')});
  CHECK(ep.reclaimed == 300);
}

TEST_CASE("format_utc_ms", "[emergency]") {
  CHECK(format_utc_ms(TimePoint{} + 1764496800123ms) == "2025-11-30T10:00:00.123Z");
  CHECK(format_utc_ms(TimePoint{}) == "1970-01-01T00:00:00.000Z");
}
