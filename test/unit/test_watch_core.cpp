// The Docker watch's decisions (policy/watch_core.hpp) on literals: the reconnect after a
// session, the heal schedule, the convergence poll's moves (spacing, retry backoff, the
// swarm role, stale answers). No sleeps, no Docker: time and results are inputs.
#include <catch2/catch.hpp>

#include "policy/watch_core.hpp"

using namespace cdp;
using namespace cdp::watch;
using namespace std::chrono_literals;

namespace {

const SteadyTime T0 = SteadyTime{} + std::chrono::hours(100);

template <class M>
bool is(const PollMove& m) {
  return std::holds_alternative<M>(m);
}

SteadyTime sleep_until(const PollMove& m) {
  REQUIRE(is<PollSleep>(m));
  return std::get<PollSleep>(m).until;
}

}  // namespace

TEST_CASE("watch session: a failed relist after each connect does not reset the backoff") {
  Session s;
  // Docker down from the start: one warning, then quiet, 1 s doubling.
  auto r = s.ended(T0, false);
  CHECK(r.wait == 1s);
  CHECK(r.log == LostLog::unreachable);
  r = s.ended(T0 + 1s, false);
  CHECK(r.wait == 2s);
  CHECK(r.log == LostLog::quiet);
  // Connected and synced, but lost 3 s later (the re-list after connect keeps failing):
  // "connected" is announced (a failure was logged), the loss too, the backoff goes on.
  CHECK(s.synced(T0 + 3s, false));
  r = s.ended(T0 + 6s, true);
  CHECK(r.log == LostLog::lost);
  CHECK(r.wait == 4s);
  r = s.ended(T0 + 10s, false);
  CHECK(r.wait == 8s);
  CHECK(r.log == LostLog::quiet);
  for (int i = 0; i < 5; ++i) r = s.ended(T0 + 20s, false);
  CHECK(r.wait == 30s);  // capped
  // A session synced for a minute was healthy: the next failure starts over at 1 s.
  CHECK(s.synced(T0 + 100s, true));  // a failure was logged since: announce
  r = s.ended(T0 + 160s, true);
  CHECK(r.wait == 1s);
  CHECK(r.log == LostLog::lost);
  // The loss was logged: the reconnect is announced too (docker_lost, then docker_connected).
  CHECK(s.synced(T0 + 161s, false));
}

TEST_CASE("watch session: docker.host changed starts the backoff over") {
  Session s;
  for (int i = 0; i < 4; ++i) s.ended(T0, false);
  s.host_changed();
  CHECK(s.ended(T0 + 1s, false).wait == 1s);
}

TEST_CASE("watch heal: every 5 min, bad input at once but at least 1 s apart") {
  Heal h(T0);
  CHECK(h.wake_at() == T0 + 5min);
  CHECK_FALSE(h.due(T0 + 5min - 1ms));
  CHECK(h.due(T0 + 5min));
  h.begun(T0 + 5min);
  CHECK_FALSE(h.finished(T0 + 5min + 200ms, true));  // listed: the stream stays
  CHECK(h.wake_at() == T0 + 10min + 200ms);

  SECTION("bad input right after a heal waits for the spacing") {
    h.ask();
    CHECK(h.wake_at() == T0 + 5min + 1200ms);
    CHECK_FALSE(h.due(T0 + 5min + 1199ms));
    CHECK(h.due(T0 + 5min + 1200ms));
    h.begun(T0 + 5min + 1200ms);
    // A flood of bad lines during that heal: one more heal, 1 s after it, not one per line.
    h.ask();
    h.ask();
    CHECK_FALSE(h.finished(T0 + 5min + 1300ms, true));
    CHECK(h.wake_at() == T0 + 5min + 2300ms);
    h.begun(T0 + 5min + 2300ms);
    CHECK(h.wake_at() == T0 + 10min + 2300ms);  // back to the 5-minute rhythm
  }
  SECTION("bad input long after: at once") {
    h.ask();
    CHECK(h.due(T0 + 7min));
  }
  SECTION("a failed heal list closes the stream (reconnect re-lists)") {
    h.begun(T0 + 10min);
    CHECK(h.finished(T0 + 10min + 1s, false));
    CHECK(h.wake_at() == T0 + 15min + 1s);
  }
}

TEST_CASE("watch lists: /services is asked on a manager only") {
  CHECK(ask_services(SwarmRole::manager));
  CHECK_FALSE(ask_services(SwarmRole::worker));
  CHECK_FALSE(ask_services(SwarmRole::inactive));
  CHECK_FALSE(ask_services(SwarmRole::unknown));  // locked: its 503 says nothing
}

TEST_CASE("convergence poll: 1 s apart until converged, 2 s after a minute") {
  ConvergencePoll p;
  CHECK(is<PollIdle>(p.next(T0, true, SwarmRole::manager)));  // no hint, nothing to do
  p.observed(T0);  // the sync's list observed /services
  p.hint();        // a service event
  CHECK(sleep_until(p.next(T0 + 100ms, true, SwarmRole::manager)) == T0 + 1s);
  CHECK(sleep_until(p.next(T0 + 999ms, true, SwarmRole::manager)) == T0 + 1s);
  CHECK(is<PollAskServices>(p.next(T0 + 1s, true, SwarmRole::manager)));
  CHECK(is<PollIdle>(p.next(T0 + 1s, true, SwarmRole::manager)));  // the request is out
  CHECK_FALSE(p.services_answered(T0 + 1s + 20ms, ServicesAnswer::accepted, false));
  CHECK(sleep_until(p.next(T0 + 1s + 20ms, true, SwarmRole::manager)) == T0 + 2s + 20ms);

  SECTION("converged: the round ends until the next hint") {
    REQUIRE(is<PollAskServices>(p.next(T0 + 2s + 20ms, true, SwarmRole::manager)));
    p.services_answered(T0 + 2s + 40ms, ServicesAnswer::accepted, true);
    CHECK(is<PollIdle>(p.next(T0 + 10s, true, SwarmRole::manager)));
    p.hint();
    CHECK(is<PollAskServices>(p.next(T0 + 10s, true, SwarmRole::manager)));  // last one 8 s ago
  }
  SECTION("still unconverged after a minute: every 2 s") {
    SteadyTime t = T0 + 2s + 20ms;
    while (t < T0 + 61s) {
      REQUIRE(is<PollAskServices>(p.next(t, true, SwarmRole::manager)));
      p.services_answered(t, ServicesAnswer::accepted, false);
      t = sleep_until(p.next(t, true, SwarmRole::manager));
    }
    REQUIRE(is<PollAskServices>(p.next(t, true, SwarmRole::manager)));
    p.services_answered(t, ServicesAnswer::accepted, false);
    CHECK(sleep_until(p.next(t, true, SwarmRole::manager)) == t + 2s);
  }
  SECTION("a stale answer (a service event meanwhile) is asked again 50 ms later, then spaced") {
    REQUIRE(is<PollAskServices>(p.next(T0 + 2s + 20ms, true, SwarmRole::manager)));
    p.services_answered(T0 + 2s + 30ms, ServicesAnswer::stale, false);
    CHECK(sleep_until(p.next(T0 + 2s + 30ms, true, SwarmRole::manager)) == T0 + 2s + 80ms);
    CHECK(is<PollAskServices>(p.next(T0 + 2s + 80ms, true, SwarmRole::manager)));
  }
  SECTION("lost: the round ends, the hint with it") {
    p.hint();
    CHECK(is<PollIdle>(p.next(T0 + 2s, false, SwarmRole::manager)));
    CHECK(is<PollIdle>(p.next(T0 + 3s, true, SwarmRole::manager)));
  }
}

TEST_CASE("convergence poll: a failing manager re-reads /info and backs off 1, 2, 4, 5, 5 s") {
  ConvergencePoll p;
  p.hint();
  REQUIRE(is<PollAskServices>(p.next(T0, true, SwarmRole::manager)));
  p.services_answered(T0, ServicesAnswer::failed, false);  // 503: quorum lost
  CHECK(p.failing());
  CHECK(p.take_trouble() == PollTrouble::services_failed);
  CHECK(p.take_trouble() == PollTrouble::none);  // one warning per failing stretch
  SteadyTime t = T0;
  std::vector<Duration> waits;
  for (int i = 0; i < 5; ++i) {
    const SteadyTime until = sleep_until(p.next(t, true, SwarmRole::manager));
    waits.push_back(std::chrono::duration_cast<Duration>(until - t));
    t = until;
    REQUIRE(is<PollAskInfo>(p.next(t, true, SwarmRole::manager)));  // the role on every failure
    p.info_answered(t, true);
    REQUIRE(is<PollAskServices>(p.next(t, true, SwarmRole::manager)));
    p.services_answered(t, ServicesAnswer::failed, false);
    CHECK(p.take_trouble() == PollTrouble::none);
  }
  CHECK(waits == std::vector<Duration>{1s, 2s, 4s, 5s, 5s});
  // The quorum is back: the next poll is within the 5 s cap, and it ends the stretch.
  t = sleep_until(p.next(t, true, SwarmRole::manager));
  REQUIRE(is<PollAskInfo>(p.next(t, true, SwarmRole::manager)));
  p.info_answered(t, true);
  REQUIRE(is<PollAskServices>(p.next(t, true, SwarmRole::manager)));
  CHECK(p.services_answered(t, ServicesAnswer::accepted, false));
  CHECK_FALSE(p.failing());
  CHECK(p.retry() == ConvergencePoll::kRetryFirst);
  CHECK(sleep_until(p.next(t, true, SwarmRole::manager)) == t + 1s);  // spacing again, no /info
  CHECK(is<PollAskServices>(p.next(t + 1s, true, SwarmRole::manager)));
}

TEST_CASE("convergence poll: the swarm role decides after /info") {
  ConvergencePoll p;
  p.hint();
  SECTION("worker or inactive: /info, then no services, round over") {
    const SwarmRole role = GENERATE(SwarmRole::worker, SwarmRole::inactive);
    REQUIRE(is<PollAskInfo>(p.next(T0, true, role)));
    p.info_answered(T0 + 10ms, true);
    CHECK(is<PollNoServices>(p.next(T0 + 10ms, true, role)));
    CHECK(is<PollIdle>(p.next(T0 + 10ms, true, role)));
    CHECK_FALSE(p.failing());
  }
  SECTION("locked / pending / error: backoff, /info each time, until it is a manager") {
    REQUIRE(is<PollAskInfo>(p.next(T0, true, SwarmRole::unknown)));
    p.info_answered(T0, true);
    CHECK(sleep_until(p.next(T0, true, SwarmRole::unknown)) == T0 + 1s);
    CHECK(p.take_trouble() == PollTrouble::locked);
    REQUIRE(is<PollAskInfo>(p.next(T0 + 1s, true, SwarmRole::unknown)));
    p.info_answered(T0 + 1s, true);
    CHECK(sleep_until(p.next(T0 + 1s, true, SwarmRole::unknown)) == T0 + 3s);
    CHECK(p.take_trouble() == PollTrouble::none);
    // Unlocked: the next /info says manager, and /services is asked.
    REQUIRE(is<PollAskInfo>(p.next(T0 + 3s, true, SwarmRole::unknown)));
    p.info_answered(T0 + 3s, true);
    CHECK(is<PollAskServices>(p.next(T0 + 3s, true, SwarmRole::manager)));
  }
  SECTION("/info failing: backoff too") {
    REQUIRE(is<PollAskInfo>(p.next(T0, true, SwarmRole::worker)));
    p.info_answered(T0, false);
    CHECK(p.failing());
    CHECK(sleep_until(p.next(T0, true, SwarmRole::worker)) == T0 + 1s);
  }
  SECTION("an answer after stop() is ignored") {
    REQUIRE(is<PollAskInfo>(p.next(T0, true, SwarmRole::worker)));
    p.stop();
    p.info_answered(T0, false);
    CHECK_FALSE(p.failing());
    CHECK(is<PollIdle>(p.next(T0, true, SwarmRole::worker)));
  }
}
