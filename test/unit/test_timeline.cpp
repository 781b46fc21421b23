// The timeline (policy/timeline.hpp) as whole timelines on literals: a driver feeds inputs
// at chosen instants, answers the actions as Docker would, and the tests read the actions.
// No sleeps: time is an input.
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

Container run_container() {
  return container("run-web", "running", {{"com.docker.stack.namespace", kRun}});
}

struct Driver : TimelineDriver {
  // Answers StartConfirm with lists that agree with the model, then each SendStep with
  // `outcome`, advancing `step_time` per step. Returns when no request is pending.
  void run_prune(StepResult::Outcome outcome = StepResult::Outcome::done, Duration step_time = std::chrono::seconds(1),
                 std::uint64_t bytes = 1000) {
    REQUIRE(has<StartConfirm>(last));
    feed(ConfirmResult{snap, {}});
    while (auto s = find<SendStep>(last)) {
      advance(step_time);
      StepResult r;
      r.step = s->step;
      r.outcome = outcome;
      r.reclaimed = bytes;
      feed(StepFinished{r});
    }
  }
};

bool has_field(const Journal& j, const std::string& key) {
  return std::any_of(j.fields.begin(), j.fields.end(), [&](const auto& f) { return f.first == key; });
}

}  // namespace

TEST_CASE("settle, then confirm, then the steps one at a time", "[timeline]") {
  Driver d;
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));  // settle 10s has only begun
  CHECK(d.view().decision.state == State::settling);
  REQUIRE(d.last.wake_at == d.now.mono + std::chrono::seconds(10));
  d.advance(std::chrono::seconds(5));
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  d.fire();
  REQUIRE(Driver::has<StartConfirm>(d.last));
  CHECK(d.count("prune_start") == 1);
  CHECK(d.view().decision.state == State::pruning);
  // Nothing else happens while the confirming lists are out.
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  CHECK_FALSE(Driver::has<SendStep>(d.last));

  d.feed(ConfirmResult{d.snap, {}});
  auto s = Driver::find<SendStep>(d.last);
  REQUIRE(s);
  CHECK(s->step == PruneStep::containers);
  CHECK_FALSE(s->dry_run);
  d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {"c1"}, 100, {}}});
  REQUIRE(Driver::find<SendStep>(d.last)->step == PruneStep::images);
  d.feed(StepFinished{StepResult{PruneStep::images, StepResult::Outcome::done, {}, 200, {}}});
  REQUIRE(Driver::find<SendStep>(d.last)->step == PruneStep::build_cache);
  d.feed(StepFinished{StepResult{PruneStep::build_cache, StepResult::Outcome::done, {}, 300, {}}});
  auto done = Driver::records(d.last.actions, "prune_done");
  REQUIRE(done.size() == 1);
  CHECK(has_field(done[0], "MESSAGE_ID"));
  auto persist = Driver::find<Persist>(d.last);
  REQUIRE(persist);
  CHECK(persist->last.reclaimed == 600);
  CHECK(persist->last.outcome == "pruned");
  CHECK(persist->last.wall == d.now.wall);
  REQUIRE(Driver::find<PruneFinishedSignal>(d.last));
  CHECK(d.view().decision.state == State::cooldown);
  CHECK(d.count("prune_step") == 3);
}

TEST_CASE("a disabled step is skipped, a step answered for another one is ignored", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.config.prune.images = false;
  d.feed(ModelChanged{});
  d.feed(ConfirmResult{d.snap, {}});
  REQUIRE(Driver::find<SendStep>(d.last)->step == PruneStep::containers);
  d.feed(StepFinished{StepResult{PruneStep::build_cache, StepResult::Outcome::done, {}, 0, {}}});
  CHECK_FALSE(Driver::has<SendStep>(d.last));  // stray: still waiting for containers
  d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {}, 0, {}}});
  REQUIRE(Driver::find<SendStep>(d.last)->step == PruneStep::build_cache);
}

TEST_CASE("blocked_long: the first after an hour blocked, then hourly", "[timeline]") {
  Driver d;
  d.snap.containers.push_back(run_container());
  d.feed(ModelChanged{});
  CHECK(d.view().decision.state == State::blocked);
  const SteadyTime t = d.now.mono;
  REQUIRE(d.last.wake_at == t + std::chrono::hours(1) + Duration(1));
  d.advance(std::chrono::minutes(59));
  d.feed(ModelChanged{});
  CHECK(d.count("blocked_long") == 0);
  d.fire();  // 1 h + 1 ms
  REQUIRE(d.count_now("blocked_long") == 1);
  const auto w = Driver::records(d.last.actions, "blocked_long")[0];
  CHECK(w.severity == Severity::warn);
  CHECK(w.message.find(kRun) != std::string::npos);
  CHECK(w.message.find("runs gate") != std::string::npos);
  // Changes meanwhile do not repeat it.
  d.advance(std::chrono::minutes(30));
  d.feed(ModelChanged{});
  CHECK(d.count("blocked_long") == 1);
  d.fire();  // the next at 2 h
  CHECK(d.count("blocked_long") == 2);
  CHECK(d.now.mono - t >= std::chrono::hours(2));
  CHECK(d.now.mono - t < std::chrono::hours(2) + std::chrono::seconds(1));

  SECTION("the disk dropping below the threshold ends it") {
    d.snap.disk = disk(10, 90);
    d.feed(ModelChanged{});
    CHECK_FALSE(d.last.wake_at);
    d.advance(std::chrono::hours(3));
    d.feed(TimerFired{});
    CHECK(d.count("blocked_long") == 2);
  }
}

TEST_CASE("a 409 defers the prune and it is retried 30 s later, without a cooldown", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  d.run_prune(StepResult::Outcome::deferred);
  CHECK(d.count("prune_done") == 0);
  REQUIRE(d.count("prune_skipped") == 1);
  CHECK_FALSE(d.st.last_prune);  // nothing was pruned: no cooldown
  CHECK_FALSE(Driver::has<Persist>(d.last));
  const SteadyTime end = d.now.mono;
  d.advance(std::chrono::seconds(12));
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  REQUIRE(d.last.wake_at == end + kDeferredRetry);
  d.fire();
  CHECK(Driver::has<StartConfirm>(d.last));
}

TEST_CASE("settle starts over after each prune", "[timeline]") {
  Driver d;
  d.config.prune.cooldown = Duration::zero();
  d.config.gates.settle = std::chrono::seconds(20);
  d.feed(ModelChanged{});
  d.fire();
  d.run_prune();
  const SteadyTime end = d.now.mono;
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  REQUIRE(d.last.wake_at == end + std::chrono::seconds(20));
  d.fire();
  CHECK(Driver::has<StartConfirm>(d.last));
}

TEST_CASE("automatic prunes are 10 s apart at cooldown 0s and settle 0s", "[timeline]") {
  Driver d;
  d.config.prune.cooldown = Duration::zero();
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  std::vector<SteadyTime> starts, ends;
  // Two minutes of a disk that pruning cannot relieve, with a change every 100 ms.
  const SteadyTime until = d.now.mono + std::chrono::minutes(2);
  while (d.now.mono < until) {
    if (Driver::has<StartConfirm>(d.last)) {
      starts.push_back(d.now.mono);
      d.run_prune(StepResult::Outcome::done, std::chrono::milliseconds(200));
      ends.push_back(d.now.mono);
    }
    d.advance(std::chrono::milliseconds(100));
    d.feed(ModelChanged{});
  }
  REQUIRE(starts.size() >= 10);
  CHECK(starts.size() <= 12);
  for (std::size_t i = 1; i < starts.size(); ++i) CHECK(starts[i] - ends[i - 1] >= kFloor);
}

TEST_CASE("the cooldown runs on the monotonic clock", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  d.run_prune();
  const SteadyTime end = d.now.mono;
  // The wall clock jumps a day ahead: the cooldown (15m) must not open.
  d.now.wall += std::chrono::hours(24);
  d.advance(std::chrono::minutes(1));
  d.feed(ModelChanged{});
  CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  CHECK(d.view().decision.state == State::cooldown);
  REQUIRE(d.last.wake_at);
  CHECK(*d.last.wake_at == end + std::chrono::minutes(15));
  d.fire();
  CHECK(Driver::has<StartConfirm>(d.last));
}

TEST_CASE("the cooldown holds across a restart from the persisted last prune", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  LastPrune persisted;
  persisted.outcome = "pruned";
  persisted.reclaimed = 5;

  SECTION("another boot: the wall time elapsed counts") {
    persisted.wall = d.now.wall - std::chrono::minutes(5);
    d.st = restore(persisted, false, d.now);
    d.feed(ModelChanged{});
    CHECK_FALSE(Driver::has<StartConfirm>(d.last));
    CHECK(d.view().decision.state == State::cooldown);
    CHECK(d.view().last_prune->reclaimed == 5);
    REQUIRE(d.last.wake_at == d.now.mono + std::chrono::minutes(10));
  }
  SECTION("a wall clock stepped back since: the cooldown starts over, never shorter") {
    persisted.wall = d.now.wall + std::chrono::hours(1);  // "in the future"
    d.st = restore(persisted, false, d.now);
    d.feed(ModelChanged{});
    REQUIRE(d.last.wake_at == d.now.mono + std::chrono::minutes(15));
  }
  SECTION("same boot: a wall clock stepped forward does not shorten it either") {
    persisted.mono = d.now.mono - std::chrono::minutes(2);
    persisted.wall = d.now.wall - std::chrono::hours(3);  // the wall clock jumped since
    d.st = restore(persisted, true, d.now);
    d.feed(ModelChanged{});
    REQUIRE(d.last.wake_at == d.now.mono + std::chrono::minutes(13));
  }
  SECTION("a crash loop: each restart re-reads the same last prune") {
    persisted.wall = d.now.wall - std::chrono::minutes(14);
    for (int i = 0; i < 5; ++i) {
      Driver again = d;
      again.st = restore(persisted, false, again.now);
      again.feed(ModelChanged{});
      CHECK_FALSE(Driver::has<StartConfirm>(again.last));
    }
    d.advance(std::chrono::minutes(1));
    d.st = restore(persisted, false, d.now);
    d.feed(ModelChanged{});
    CHECK(Driver::has<StartConfirm>(d.last));
  }
}

TEST_CASE("prune_slow: one warning after 10 minutes, and STATUS says how long", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  d.feed(ConfirmResult{d.snap, {}});
  REQUIRE(Driver::has<SendStep>(d.last));
  const SteadyTime sent = d.now.mono;
  REQUIRE(d.last.wake_at == sent + kPruneSlow);
  d.advance(std::chrono::minutes(9));
  d.feed(ModelChanged{});
  CHECK(d.count("prune_slow") == 0);
  d.fire();
  REQUIRE(d.count("prune_slow") == 1);
  const View v = d.view();
  CHECK(v.running_slow);
  const std::string line = status_line(v, d.snap, d.config, d.now.wall);
  CHECK(line.rfind("pruning:", 0) == 0);
  CHECK(line.find("step containers running for 10m") != std::string::npos);
  d.advance(std::chrono::minutes(20));
  d.feed(TimerFired{});
  CHECK(d.count("prune_slow") == 1);
  CHECK(status_line(d.view(), d.snap, d.config, d.now.wall).find("running for 30m") != std::string::npos);
  // Never cancelled: the step's answer still drives the rest.
  d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {}, 0, {}}});
  CHECK(Driver::find<SendStep>(d.last)->step == PruneStep::images);
}

TEST_CASE("SIGTERM mid-step: the step finishes, no further step, then exit", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  d.feed(ConfirmResult{d.snap, {}});
  REQUIRE(Driver::find<SendStep>(d.last)->step == PruneStep::containers);
  d.feed(Stop{});
  CHECK_FALSE(Driver::has<Finish>(d.last));
  d.advance(std::chrono::seconds(3));
  d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {}, 42, {}}});
  CHECK_FALSE(Driver::has<SendStep>(d.last));
  CHECK(d.count_now("prune_done") == 1);
  REQUIRE(Driver::find<Persist>(d.last));  // what was pruned still starts the cooldown
  CHECK(Driver::find<Persist>(d.last)->last.outcome == "partial");
  CHECK(std::holds_alternative<Finish>(d.last.actions.back()));
  // After Finish nothing more happens.
  d.feed(ModelChanged{});
  CHECK(d.last.actions.empty());
}

TEST_CASE("SIGTERM before a step was sent exits at once", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  SECTION("idle") {
    d.snap.disk = disk(10, 90);
    d.feed(ModelChanged{});
    d.feed(Stop{});
    CHECK(Driver::has<Finish>(d.last));
  }
  SECTION("while the confirming lists are out") {
    d.feed(ModelChanged{});
    REQUIRE(Driver::has<StartConfirm>(d.last));
    d.feed(Stop{});
    CHECK(Driver::has<Finish>(d.last));
    CHECK(d.count("prune_skipped") == 1);
    d.feed(ConfirmResult{d.snap, {}});  // the late answer is ignored
    CHECK(d.last.actions.empty());
  }
}

TEST_CASE("dry-run: visible, 'would free', no MESSAGE_ID, no cooldown", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.config.prune.dry_run = true;
  d.feed(ModelChanged{});
  CHECK(status_line(d.view(), d.snap, d.config, d.now.wall).find("dry-run") != std::string::npos);
  REQUIRE(Driver::has<StartConfirm>(d.last));
  d.feed(ConfirmResult{d.snap, {}});
  while (auto s = Driver::find<SendStep>(d.last)) {
    CHECK(s->dry_run);
    d.feed(StepFinished{StepResult{s->step, StepResult::Outcome::dry_run, {"x"}, 1'200'000'000, {}}});
  }
  auto done = Driver::records(d.all, "prune_done");
  REQUIRE(done.size() == 1);
  CHECK_FALSE(has_field(done[0], "MESSAGE_ID"));
  CHECK_FALSE(has_field(done[0], "CDP_RECLAIMED_BYTES"));
  CHECK(done[0].message.find("would free 3.6 GB") != std::string::npos);
  for (const auto& j : Driver::records(d.all, "prune_step")) CHECK_FALSE(has_field(j, "CDP_RECLAIMED_BYTES"));
  CHECK_FALSE(Driver::has<Persist>(d.last));
  CHECK_FALSE(Driver::has<PruneFinishedSignal>(d.last));
  CHECK_FALSE(d.st.last_prune);
  CHECK(d.count("still_full") == 0);
  const View v = d.view();
  CHECK(v.decision.state != State::cooldown);
  CHECK(v.decision.report.gate(GateId::cooldown).open);
  const std::string line = status_line(v, d.snap, d.config, d.now.wall);
  CHECK(line.find("no prune yet") != std::string::npos);
  CHECK(line.find("the last dry run would free 3.6 GB") != std::string::npos);

  SECTION("a dry-run repeats at most once a cooldown") {
    d.advance(std::chrono::minutes(1));
    d.feed(ModelChanged{});
    CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  }
  SECTION("turning dry-run off prunes for real at once (after the 10 s floor): no cooldown was started") {
    d.config.prune.dry_run = false;
    d.advance(std::chrono::seconds(11));
    d.feed(Reload{});
    CHECK(Driver::has<StartConfirm>(d.last));
  }
}

TEST_CASE("still_full: once per episode, not once per prune", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.config.prune.cooldown = Duration::zero();
  auto prune_once = [&] {
    d.advance(kFloor + std::chrono::seconds(1));
    d.feed(ModelChanged{});
    d.run_prune();
  };
  d.feed(ModelChanged{});
  d.run_prune();
  CHECK(d.count("still_full") == 1);
  prune_once();
  prune_once();
  CHECK(d.count("prune_done") == 3);
  CHECK(d.count("still_full") == 1);
  // The disk drops below the threshold: the episode ends; the next one warns again.
  d.snap.disk = disk(10, 90);
  d.advance(std::chrono::seconds(1));
  d.feed(ModelChanged{});
  d.snap.disk = disk(90, 10);
  prune_once();
  CHECK(d.count("still_full") == 2);

  SECTION("a prune that left the disk below the threshold does not warn") {
    d.advance(kFloor + std::chrono::seconds(1));
    d.feed(ModelChanged{});
    REQUIRE(Driver::has<StartConfirm>(d.last));
    d.feed(ConfirmResult{d.snap, {}});
    d.snap.disk = disk(10, 90);  // the manager re-reads the disk before each StepFinished
    d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {}, 0, {}}});
    // ...and the disk gate, now closed, stops the remaining steps.
    CHECK_FALSE(Driver::has<SendStep>(d.last));
    CHECK(d.count("still_full") == 2);
  }
}

TEST_CASE("confirm before acting: fresh lists that disagree send nothing", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  REQUIRE(Driver::has<StartConfirm>(d.last));

  SECTION("a live run stack the model missed (a hung /events)") {
    Snapshot fresh = d.snap;
    fresh.containers.push_back(container("run-web", "created", {{"com.docker.compose.project", kRun}}));
    d.feed(ConfirmResult{fresh, {}});
    CHECK_FALSE(Driver::has<SendStep>(d.last));
    CHECK(Driver::has<AdoptConfirmed>(d.last));
    auto drift = Driver::records(d.last.actions, "model_drift");
    REQUIRE(drift.size() == 1);
    CHECK(drift[0].severity == Severity::warn);
    CHECK(drift[0].message.find(std::string("live run stack ") + kRun + " not in the model") != std::string::npos);
    CHECK(d.count("prune_skipped") == 1);
    CHECK_FALSE(d.st.last_prune);
    // The model, replaced by the fresh lists, now holds it closed.
    d.snap = fresh;
    d.advance(std::chrono::seconds(30));
    d.feed(ModelChanged{});
    CHECK(d.view().decision.state == State::blocked);
    CHECK_FALSE(Driver::has<StartConfirm>(d.last));
  }
  SECTION("a service the model never saw counts as unconverged") {
    Snapshot fresh = d.snap;
    fresh.services_latest->services.push_back(service("late_web", 1, 1));
    fresh.services_previous.reset();  // as the manager builds it: one fresh observation
    d.feed(ConfirmResult{fresh, {}});
    CHECK_FALSE(Driver::has<SendStep>(d.last));
    auto drift = Driver::records(d.last.actions, "model_drift");
    REQUIRE(drift.size() == 1);
    CHECK(drift[0].message.find("late_web") != std::string::npos);
  }
  SECTION("agreeing lists: the first step goes") {
    Snapshot fresh = d.snap;
    fresh.services_previous.reset();
    d.feed(ConfirmResult{fresh, {}});
    CHECK(Driver::has<SendStep>(d.last));
    CHECK(d.count("model_drift") == 0);
  }
  SECTION("the wall clock stepped back an hour before the lists: agreeing lists still send") {
    // test/sim seed 1712 before the observations were stamped on the monotonic clock: the
    // fresh list looked older than the model's and the prune was refused as model drift.
    d.now.wall -= std::chrono::hours(1);
    d.advance(std::chrono::milliseconds(20));
    Snapshot fresh = d.snap;
    fresh.services_latest->at = d.now.mono;  // as the manager stamps it (scheduler.cpp)
    fresh.services_previous.reset();
    d.feed(ConfirmResult{fresh, {}});
    CHECK(Driver::has<SendStep>(d.last));
    CHECK(d.count("model_drift") == 0);
  }
  SECTION("the lists failed: nothing sent, retried later") {
    d.feed(ConfirmResult{std::nullopt, "timeout"});
    CHECK_FALSE(Driver::has<SendStep>(d.last));
    CHECK(d.count("prune_skipped") == 1);
    REQUIRE(d.last.wake_at);
    CHECK(*d.last.wake_at >= d.now.mono + kDeferredRetry);
  }
}

TEST_CASE("a gate closing between steps stops the rest", "[timeline]") {
  Driver d;
  d.config.gates.settle = Duration::zero();
  d.feed(ModelChanged{});
  d.feed(ConfirmResult{d.snap, {}});
  d.snap.containers.push_back(run_container());
  d.feed(StepFinished{StepResult{PruneStep::containers, StepResult::Outcome::done, {}, 10, {}}});
  CHECK_FALSE(Driver::has<SendStep>(d.last));
  REQUIRE(Driver::find<Persist>(d.last));
  CHECK(Driver::find<Persist>(d.last)->last.outcome == "partial");
}

TEST_CASE("PruneNow skips settle and cooldown, never runs or converge", "[timeline]") {
  Driver d;
  d.config.gates.settle = std::chrono::minutes(5);
  d.st = restore(LastPrune{d.now.wall - std::chrono::minutes(1), {}, "pruned", 1}, false, d.now);
  d.feed(ModelChanged{});
  CHECK(d.view().decision.state == State::cooldown);

  SECTION("runs and converge open: it starts now, and replies at the end") {
    d.feed(PruneNow{7, false});
    REQUIRE(Driver::has<StartConfirm>(d.last));
    d.run_prune();
    auto r = Driver::find<Reply>(d.last);
    REQUIRE(r);
    CHECK(r->request == 7);
    CHECK(r->outcome == "pruned");
    CHECK(r->reclaimed == 3000);
  }
  SECTION("a live run stack: skipped, replied at once") {
    d.snap.containers.push_back(run_container());
    d.feed(PruneNow{8, true});
    CHECK_FALSE(Driver::has<StartConfirm>(d.last));
    auto r = Driver::find<Reply>(d.last);
    REQUIRE(r);
    CHECK(r->outcome.rfind("skipped: runs gate closed", 0) == 0);
  }
  SECTION("the disk gate unless waived") {
    d.snap.disk = disk(10, 90);
    d.feed(PruneNow{9, false});
    CHECK(Driver::find<Reply>(d.last)->outcome.rfind("skipped: disk gate closed", 0) == 0);
    d.feed(PruneNow{10, true});
    CHECK(Driver::has<StartConfirm>(d.last));
    SECTION("a second call while one runs is busy") {
      d.feed(PruneNow{11, true});
      CHECK(Driver::find<Reply>(d.last)->outcome.rfind("busy", 0) == 0);
    }
  }
  SECTION("the confirming lists still decide") {
    d.feed(PruneNow{12, false});
    Snapshot fresh = d.snap;
    fresh.containers.push_back(run_container());
    d.feed(ConfirmResult{fresh, {}});
    CHECK_FALSE(Driver::has<SendStep>(d.last));
    CHECK(Driver::find<Reply>(d.last)->outcome.rfind("skipped:", 0) == 0);
  }
}

TEST_CASE("gate records only on change", "[timeline]") {
  Driver d;
  d.snap.disk = disk(10, 90);
  d.feed(ModelChanged{});
  CHECK(d.count("gate") == 4);  // the first decision reports every gate
  d.feed(ModelChanged{});
  CHECK(d.count("gate") == 4);
  d.snap.disk = disk(90, 10);
  d.feed(ModelChanged{});
  CHECK(d.count("gate") == 5);
}
