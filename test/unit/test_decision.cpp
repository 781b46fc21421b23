// decide() and remember(): state precedence, settle, prune_now, wake-ups.
#include <catch2/catch.hpp>

#include "policy/decision.hpp"
#include "policy_fixtures.hpp"

using namespace cdp;
using namespace cdp::testfx;

TEST_CASE("state precedence", "[decision]") {
  auto s = open_snapshot();
  auto c = config();
  SchedulerMemory m;
  SECTION("connecting beats everything") {
    s.docker_connected = false;
    m.prune_in_flight = true;
    CHECK(decide(s, c, at(t0()), m).state == State::connecting);
    s.docker_connected = true;
    s.synced = false;
    CHECK(decide(s, c, at(t0()), m).state == State::connecting);
  }
  SECTION("pruning while a prune is in flight, and no second prune") {
    m.prune_in_flight = true;
    m.all_open_since = t0() - 1h;
    auto d = decide(s, c, at(t0()), m);
    CHECK(d.state == State::pruning);
    CHECK_FALSE(d.prune_now);
  }
  SECTION("idle when the disk gate is closed, even if others are closed too") {
    s.disk = disk(10, 90);
    s.containers = {container("x", "running", {{"com.docker.stack.namespace", "abcd-1a2b3c_ci_commoninternet_net"}})};
    auto d = decide(s, c, at(t0()), m);
    CHECK(d.state == State::idle);
    CHECK_FALSE(d.prune_now);
    CHECK_FALSE(d.next_prune_not_before.has_value());
  }
  SECTION("blocked when disk is over and runs or converge is closed") {
    s.containers = {container("x", "running", {{"com.docker.stack.namespace", "abcd-1a2b3c_ci_commoninternet_net"}})};
    CHECK(decide(s, c, at(t0()), m).state == State::blocked);
    s.containers.clear();
    set_services(s, {service("web", 0, 1, "updating")});
    s.services_latest->services[0].updated_at = t0() - 1min;
    auto d = decide(s, c, at(t0()), m);
    CHECK(d.state == State::blocked);
    CHECK(d.wake_at == t0() - 1min + 30min + 1ms);  // when web becomes stuck
  }
  SECTION("cooldown when only the cooldown is closed") {
    s.last_prune_finished = t0() - 5min;
    auto d = decide(s, c, at(t0()), m);
    CHECK(d.state == State::cooldown);
    CHECK(d.next_prune_not_before == t0() + 10min + 10s);  // cooldown end + settle
    CHECK(d.wake_at == t0() + 10min);
  }
  SECTION("settling when all are open") {
    CHECK(decide(s, c, at(t0()), m).state == State::settling);
  }
  CHECK(std::string(state_name(State::blocked)) == "blocked");
  CHECK(std::string(state_name(State::connecting)) == "connecting");
}

TEST_CASE("settle and prune_now", "[decision]") {
  auto s = open_snapshot();
  auto c = config();
  c.gates.settle = 10s;
  SchedulerMemory m;
  SECTION("first time all open: settle starts now") {
    auto d = decide(s, c, at(t0()), m);
    CHECK_FALSE(d.prune_now);
    CHECK(d.next_prune_not_before == t0() + 10s);
    CHECK(d.wake_at == t0() + 10s);
    auto m2 = remember(m, d.report, t0());
    CHECK(m2.all_open_since == t0());
  }
  SECTION("1 s before settle ends: not yet") {
    m.all_open_since = t0() - 9s;
    auto d = decide(s, c, at(t0()), m);
    CHECK_FALSE(d.prune_now);
    CHECK(d.wake_at == t0() + 1s);
  }
  SECTION("exactly at settle end: prune") {
    m.all_open_since = t0() - 10s;
    auto d = decide(s, c, at(t0()), m);
    CHECK(d.prune_now);
    CHECK(d.next_prune_not_before == t0());
    CHECK_FALSE(d.wake_at.has_value());  // never a wake-up in the past
  }
  SECTION("1 s after settle end: prune") {
    m.all_open_since = t0() - 11s;
    CHECK(decide(s, c, at(t0()), m).prune_now);
  }
  SECTION("settle 0: prune at once") {
    c.gates.settle = Duration::zero();
    CHECK(decide(s, c, at(t0()), m).prune_now);
  }
  SECTION("a gate closing clears the memory, keeping it open keeps the start") {
    m.all_open_since = t0() - 5s;
    auto kept = remember(m, decide(s, c, at(t0()), m).report, t0());
    CHECK(kept.all_open_since == t0() - 5s);
    s.disk = disk(1, 99);
    auto d = decide(s, c, at(t0()), m);
    CHECK_FALSE(d.prune_now);
    CHECK_FALSE(remember(m, d.report, t0()).all_open_since.has_value());
  }
  SECTION("remember keeps prune_in_flight") {
    m.prune_in_flight = true;
    CHECK(remember(m, decide(s, c, at(t0()), m).report, t0()).prune_in_flight);
  }
}
