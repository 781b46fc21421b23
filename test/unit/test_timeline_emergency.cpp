// The emergency episode inside the timeline (policy/timeline.hpp), as whole timelines on
// literals: a prune that leaves the disk at or over critical_percent goes on with one
// eviction at a time, each confirmed like a prune step. A driver answers the actions as
// the manager and Docker would; time is an input (no sleeps).
#include <catch2/catch.hpp>

#include <algorithm>

#include "policy/timeline.hpp"
#include "policy_fixtures.hpp"
#include "timeline_driver.hpp"
#include "report/status_line.hpp"

using namespace cdp;
using namespace cdp::testfx;
using namespace cdp::timeline;

namespace {

std::string img_id(char c) { return "sha256:" + std::string(64, c); }

emergency::Verdict candidate(char c, int hours_ago, std::uint64_t size = 5) {
  return emergency::Verdict{img_id(c), {std::string("local/") + c + ":1"}, size, t0() - std::chrono::hours(hours_ago),
                            emergency::Kept::none, {}};
}

struct EmergencyDriver : TimelineDriver {
  // What ReadCandidates finds, in emergency::classify()'s order (candidates least recently
  // used first, then the kept ones): a, b, c, and one image a container uses.
  std::vector<emergency::Verdict> verdicts{candidate('a', 40), candidate('b', 30), candidate('c', 20),
                                           emergency::Verdict{img_id('u'), {"local/used:1"}, 50, t0() - std::chrono::hours(50),
                                                              emergency::Kept::in_use, "container 0123"}};
  std::uint64_t freed_per_eviction = 5;  // bytes of the 100-byte disk each DELETE frees

  EmergencyDriver() {
    config.gates.settle = Duration::zero();
    config.emergency.enabled = true;  // critical 95, target 85, max_images 20 (the defaults)
    snap.disk = disk(97, 3);          // 97 % >= critical 95 % after the prune
  }

  // Starts an automatic prune and answers it until its steps are done.
  void prune() {
    feed(ModelChanged{});
    REQUIRE(has<StartConfirm>(last));
    feed(ConfirmResult{snap, {}});
    while (auto s = find<SendStep>(last)) {
      advance(std::chrono::seconds(1));
      feed(StepFinished{StepResult{s->step, s->dry_run ? StepResult::Outcome::dry_run : StepResult::Outcome::done,
                                   {"x"}, 0, {}}});
    }
  }
  // Answers the pending confirm with lists agreeing with the model, then the candidates.
  // Returns the EvictImage asked for, if any.
  std::optional<EvictImage> confirm_and_list() {
    if (!has<StartConfirm>(last)) return std::nullopt;
    feed(ConfirmResult{snap, {}});
    if (!has<ReadCandidates>(last)) return std::nullopt;
    advance(std::chrono::milliseconds(200));
    feed(CandidatesRead{verdicts, {}});
    return find<EvictImage>(last);
  }
  // Docker's answer to the DELETE: removed (the disk drops) unless told otherwise.
  void evicted(const EvictImage& e, emergency::EvictOutcome::Kind kind = emergency::EvictOutcome::Kind::removed) {
    advance(std::chrono::seconds(2));
    emergency::EvictOutcome o;
    o.kind = kind;
    if (kind == emergency::EvictOutcome::Kind::removed) {
      o.untagged = e.candidate.tags;
      o.deleted = {e.candidate.id};
      snap.disk->used_bytes -= freed_per_eviction;
      snap.disk->avail_bytes += freed_per_eviction;
    } else if (kind == emergency::EvictOutcome::Kind::dry_run) {
      o.untagged = e.candidate.tags;
    } else {
      o.detail = "HTTP 409: conflict: unable to remove repository reference (must force) - container 0123 is using its referenced image";
    }
    feed(EvictFinished{o});
  }
  // Runs the episode to its end, answering every request; the ids evicted, in order.
  std::vector<std::string> run_episode() {
    std::vector<std::string> order;
    while (auto e = confirm_and_list()) {
      order.push_back(e->candidate.id);
      evicted(*e, e->dry_run ? emergency::EvictOutcome::Kind::dry_run : emergency::EvictOutcome::Kind::removed);
    }
    return order;
  }

};

std::string field(const Journal& j, const std::string& key) {
  for (const auto& [k, v] : j.fields)
    if (k == key) return v;
  return "<absent>";
}

}  // namespace

TEST_CASE("episode: starts after the prune, evicts least recently used first, stops at target", "[timeline][emergency]") {
  EmergencyDriver d;
  d.config.disk.threshold_percent = 85;  // the target leaves the disk below it: no still_full
  d.prune();
  // The prune is finished and reported; the run goes on with the episode.
  REQUIRE(d.records("prune_done").size() == 1);
  REQUIRE(d.records("emergency_start").size() == 1);
  CHECK(EmergencyDriver::has<StartConfirm>(d.last));  // confirmed like a prune before the first eviction
  CHECK(d.view().decision.state == State::pruning);
  CHECK(d.view().emergency_running);
  auto first = d.confirm_and_list();
  REQUIRE(first);
  // PruneNow while the DELETE is out: busy, nothing else asked.
  d.feed(PruneNow{7, false});
  REQUIRE(EmergencyDriver::find<Reply>(d.last));
  CHECK(EmergencyDriver::find<Reply>(d.last)->outcome.starts_with("busy"));
  CHECK_FALSE(EmergencyDriver::has<StartConfirm>(d.last));
  d.evicted(*first);

  auto order = d.run_episode();
  order.insert(order.begin(), first->candidate.id);
  // 97 -> 92 -> 87 -> 82 <= 85: three evictions, oldest first; the in-use image never.
  CHECK(order == std::vector<std::string>{img_id('a'), img_id('b'), img_id('c')});
  CHECK(d.count_actions<StartConfirm>() == 1 + 3);  // the prune's, then one per eviction
  CHECK(d.count_actions<ReadCandidates>() == 3);
  const auto evicts = d.records("emergency_evict");
  REQUIRE(evicts.size() == 3);
  CHECK(field(evicts[0], "CDP_IMAGE") == "local/a:1");
  CHECK(field(evicts[0], "CDP_RECLAIMED_BYTES") == "5");
  const auto done = d.records("emergency_done");
  REQUIRE(done.size() == 1);
  CHECK(field(done[0], "CDP_REASON") == "target_reached");
  CHECK(field(done[0], "CDP_EVICTED") == "3");
  CHECK(d.records("still_full").empty());  // 82 % is below this test's threshold (85 %)
  CHECK_FALSE(d.st.prune);
  CHECK(d.events().back() == "emergency_done");
  // The view carries the last episode.
  const View v = d.view();
  CHECK_FALSE(v.emergency_running);
  CHECK(v.emergency_enabled);
  REQUIRE(v.last_emergency);
  CHECK(v.last_emergency->evicted == 3);
  CHECK(v.last_emergency->reclaimed == 15);
  CHECK(v.last_emergency->ended == "target_reached");
  CHECK(v.last_emergency->wall == d.now.wall);
  REQUIRE(EmergencyDriver::find<PersistEmergency>(d.last));
}

TEST_CASE("episode: still_full after it when the disk stays over the threshold, once", "[timeline][emergency]") {
  EmergencyDriver d;
  d.config.emergency.target_percent = 50;
  d.config.emergency.max_images = 2;
  d.prune();
  const auto order = d.run_episode();
  CHECK(order.size() == 2);
  const auto done = d.records("emergency_done");
  REQUIRE(done.size() == 1);
  CHECK(field(done[0], "CDP_REASON") == "max_images");
  // max_images ends it with the disk (87 %) over the prune threshold: the prune's own
  // still_full follows the episode, once.
  const auto ev = d.events();
  REQUIRE(d.records("still_full").size() == 1);
  CHECK(field(d.records("still_full")[0], "CDP_TIER") == "<absent>");
  CHECK(std::find(ev.begin(), ev.end(), "emergency_done") < std::find(ev.begin(), ev.end(), "still_full"));
}

TEST_CASE("episode: no candidate left -> its own still_full naming what remains, and no second one", "[timeline][emergency]") {
  EmergencyDriver d;
  d.config.emergency.target_percent = 50;
  d.prune();
  const auto order = d.run_episode();
  CHECK(order.size() == 3);
  const auto done = d.records("emergency_done");
  REQUIRE(done.size() == 1);
  CHECK(field(done[0], "CDP_REASON") == "no_candidates");
  const auto full = d.records("still_full");
  REQUIRE(full.size() == 1);
  CHECK(field(full[0], "CDP_TIER") == "emergency");
  CHECK(full[0].message.find("1 used by a container") != std::string::npos);
}

TEST_CASE("episode: a run stack going live stops it before the next eviction", "[timeline][emergency]") {
  EmergencyDriver d;
  d.prune();
  auto first = d.confirm_and_list();
  REQUIRE(first);
  CHECK(first->candidate.id == img_id('a'));

  SECTION("the confirming lists show it (the model missed it): nothing more is sent") {
    d.evicted(*first);
    REQUIRE(EmergencyDriver::has<StartConfirm>(d.last));
    Snapshot fresh = d.snap;
    fresh.containers.push_back(container("run-web", "created", {{"com.docker.compose.project", kRun}}));
    d.feed(ConfirmResult{fresh, {}});
    CHECK(EmergencyDriver::has<AdoptConfirmed>(d.last));
    CHECK_FALSE(EmergencyDriver::has<ReadCandidates>(d.last));
    CHECK_FALSE(EmergencyDriver::has<EvictImage>(d.last));
    REQUIRE(d.records("model_drift").size() == 1);
    const auto done = d.records("emergency_done");
    REQUIRE(done.size() == 1);
    CHECK(field(done[0], "CDP_REASON") == "gate_closed");
    CHECK(done[0].message.find(kRun) != std::string::npos);
    CHECK(field(done[0], "CDP_EVICTED") == "1");
  }
  SECTION("the model sees it during the DELETE: no confirm is even asked") {
    d.snap.containers.push_back(container("run-web", "running", {{"com.docker.stack.namespace", kRun}}));
    d.evicted(*first);
    CHECK_FALSE(EmergencyDriver::has<StartConfirm>(d.last));
    const auto done = d.records("emergency_done");
    REQUIRE(done.size() == 1);
    CHECK(field(done[0], "CDP_REASON") == "gate_closed");
  }
  CHECK(d.count_actions<EvictImage>() == 1);
  CHECK_FALSE(d.st.prune);
}

TEST_CASE("episode: Docker's 409 ends that candidate, the next one is tried", "[timeline][emergency]") {
  EmergencyDriver d;
  d.prune();
  auto first = d.confirm_and_list();
  REQUIRE(first);
  d.evicted(*first, emergency::EvictOutcome::Kind::conflict);
  const auto evicts = d.records("emergency_evict");
  REQUIRE(evicts.size() == 1);
  CHECK(field(evicts[0], "CDP_OUTCOME") == "conflict");
  // The lists still show `a` as a candidate; it is not tried again in this episode.
  auto second = d.confirm_and_list();
  REQUIRE(second);
  CHECK(second->candidate.id == img_id('b'));
}

TEST_CASE("episode: SIGTERM waits for the DELETE in flight, then stops", "[timeline][emergency]") {
  EmergencyDriver d;
  d.prune();
  auto first = d.confirm_and_list();
  REQUIRE(first);
  d.feed(Stop{});
  CHECK_FALSE(EmergencyDriver::has<Finish>(d.last));  // the DELETE is never cancelled
  CHECK(d.records("emergency_done").empty());
  d.evicted(*first);
  CHECK(d.records("emergency_evict").size() == 1);
  const auto done = d.records("emergency_done");
  REQUIRE(done.size() == 1);
  CHECK(field(done[0], "CDP_REASON") == "stopping");
  CHECK_FALSE(EmergencyDriver::has<StartConfirm>(d.last));
  CHECK(EmergencyDriver::has<Finish>(d.last));

  SECTION("SIGTERM while only lists are read ends at once") {
    EmergencyDriver e;
    e.prune();
    REQUIRE(EmergencyDriver::has<StartConfirm>(e.last));
    e.feed(Stop{});
    CHECK(field(e.records("emergency_done").at(0), "CDP_REASON") == "stopping");
    CHECK(EmergencyDriver::has<Finish>(e.last));
    e.feed(ConfirmResult{e.snap, {}});  // the stray answer changes nothing
    CHECK(e.count_actions<ReadCandidates>() == 0);
  }
}

TEST_CASE("episode: the cooldown and the 10 s floor count from its end", "[timeline][emergency]") {
  EmergencyDriver d;
  d.config.emergency.target_percent = 50;
  d.config.emergency.max_images = 2;
  d.prune();
  const SteadyTime prune_end = d.now.mono;
  REQUIRE(d.st.last_prune);
  CHECK(d.st.last_prune->mono == prune_end);
  // A slow episode: ten minutes per eviction.
  while (auto e = d.confirm_and_list()) {
    d.advance(std::chrono::minutes(10));
    d.evicted(*e);
  }
  const SteadyTime episode_end = d.now.mono;
  REQUIRE(episode_end > prune_end + std::chrono::minutes(15));
  REQUIRE(d.st.last_prune);
  CHECK(d.st.last_prune->mono == episode_end);
  CHECK(d.st.last_prune->wall == d.now.wall);
  std::vector<Persist> persisted;
  for (const auto& a : d.all)
    if (auto p = std::get_if<Persist>(&a)) persisted.push_back(*p);
  REQUIRE(persisted.size() == 2);  // at the prune's end, then moved to the episode's end
  CHECK(persisted.back().last.mono == episode_end);
  // The disk is still over the threshold: the next prune waits a full cooldown from the end.
  CHECK(d.view().decision.state == State::cooldown);
  REQUIRE(d.last.wake_at);
  CHECK(*d.last.wake_at >= episode_end + d.config.prune.cooldown);
  d.advance(std::chrono::minutes(14));
  d.feed(ModelChanged{});
  CHECK_FALSE(EmergencyDriver::has<StartConfirm>(d.last));
  d.advance(std::chrono::minutes(1) + std::chrono::seconds(1));
  d.feed(ModelChanged{});
  CHECK(EmergencyDriver::has<StartConfirm>(d.last));

  SECTION("cooldown 0s: still 10 s after the episode's end") {
    EmergencyDriver z;
    z.config.prune.cooldown = Duration::zero();
    z.config.emergency.max_images = 1;
    z.prune();
    z.run_episode();
    REQUIRE_FALSE(z.st.prune);
    z.advance(std::chrono::seconds(9));
    z.feed(ModelChanged{});
    CHECK_FALSE(EmergencyDriver::has<StartConfirm>(z.last));
    z.advance(std::chrono::seconds(2));
    z.feed(ModelChanged{});
    CHECK(EmergencyDriver::has<StartConfirm>(z.last));
  }
}

TEST_CASE("episode: dry-run lists in order and sends nothing, no cooldown", "[timeline][emergency]") {
  EmergencyDriver d;
  d.config.prune.dry_run = true;
  d.prune();
  REQUIRE(d.records("emergency_start").size() == 1);
  std::vector<std::string> order;
  while (auto e = d.confirm_and_list()) {
    CHECK(e->dry_run);
    order.push_back(e->candidate.id);
    d.evicted(*e, emergency::EvictOutcome::Kind::dry_run);  // the disk does not move
  }
  // Projected by the sizes listed: 97 -> 92 -> 87 -> 82.
  CHECK(order == std::vector<std::string>{img_id('a'), img_id('b'), img_id('c')});
  CHECK(field(d.records("emergency_done").at(0), "CDP_DRY_RUN") == "1");
  CHECK(d.count_actions<Persist>() == 0);
  CHECK_FALSE(d.st.last_prune);
  REQUIRE(d.st.last_emergency);
  CHECK(d.st.last_emergency->dry_run);
}

TEST_CASE("episode: disabled, below critical, or a reload turning it off: never / stops", "[timeline][emergency]") {
  SECTION("disabled: the prune ends as always, with its still_full") {
    EmergencyDriver d;
    d.config.emergency.enabled = false;
    d.prune();
    CHECK(d.records("emergency_start").empty());
    CHECK(d.count_actions<ReadCandidates>() == 0);
    CHECK(d.count_actions<EvictImage>() == 0);
    CHECK(d.records("still_full").size() == 1);
    CHECK_FALSE(d.st.prune);
    CHECK_FALSE(d.view().emergency_enabled);
  }
  SECTION("below critical (bytes and inodes)") {
    EmergencyDriver d;
    d.snap.disk = disk(94, 6, 94, 6);
    d.prune();
    CHECK(d.records("emergency_start").empty());
    CHECK(d.count_actions<EvictImage>() == 0);
  }
  SECTION("inodes over critical start it too") {
    EmergencyDriver d;
    d.snap.disk = disk(50, 50, 96, 4);
    d.config.disk.inode_threshold_percent = 80;
    d.prune();
    CHECK(d.records("emergency_start").size() == 1);
  }
  SECTION("a reload that turns it off stops it before the next eviction") {
    EmergencyDriver d;
    d.prune();
    auto first = d.confirm_and_list();
    REQUIRE(first);
    d.config.emergency.enabled = false;
    d.feed(Reload{});
    d.evicted(*first);
    CHECK_FALSE(EmergencyDriver::has<StartConfirm>(d.last));
    CHECK(field(d.records("emergency_done").at(0), "CDP_REASON") == "gate_closed");
  }
}

TEST_CASE("episode: STATUS says the tier is on and its last episode", "[timeline][emergency][status]") {
  EmergencyDriver d;
  d.prune();
  d.run_episode();
  d.config.disk.threshold_percent = 85;
  REQUIRE(d.st.last_emergency);
  std::string line = status_line(d.view(), d.snap, d.config, d.now.wall);
  CHECK(line.find("; emergency tier on, last episode 0s ago: evicted 3 images (15 B), target_reached") != std::string::npos);
  d.advance(std::chrono::minutes(5));
  d.feed(ModelChanged{});
  line = status_line(d.view(), d.snap, d.config, d.now.wall);
  CHECK(line.find("last episode 5m ago") != std::string::npos);

  SECTION("while an episode runs") {
    EmergencyDriver e;
    e.prune();
    REQUIRE(e.view().emergency_running);
    CHECK(status_line(e.view(), e.snap, e.config, e.now.wall).find("; emergency tier evicting") != std::string::npos);
  }
  SECTION("enabled, no episode yet; disabled: not mentioned") {
    EmergencyDriver e;
    e.snap.disk = disk(10, 90);
    e.feed(ModelChanged{});
    CHECK(status_line(e.view(), e.snap, e.config, e.now.wall).ends_with("; emergency tier on"));
    e.config.emergency.enabled = false;
    e.feed(Reload{});
    CHECK(status_line(e.view(), e.snap, e.config, e.now.wall).find("emergency") == std::string::npos);
  }
}
