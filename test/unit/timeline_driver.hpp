// A driver for whole timelines on literals (policy/timeline.hpp): it feeds inputs at
// chosen instants and keeps every action, so tests can answer them as the manager and
// Docker would and read what was asked for. No sleeps: time is an input.
// Shared by test_timeline.cpp and test_timeline_emergency.cpp.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "policy/timeline.hpp"
#include "policy_fixtures.hpp"

namespace cdp::testfx {

struct TimelineDriver {
  Config config = testfx::config();
  Snapshot snap = open_snapshot();
  timeline::TimelineState st;
  Now now{m0(), t0()};  // the clocks of open_snapshot()'s observations
  timeline::Transition last;
  std::vector<timeline::Action> all;

  timeline::Transition& feed(const timeline::Input& in) {
    last = timeline::step(st, snap, config, now, in);
    st = last.state;
    all.insert(all.end(), last.actions.begin(), last.actions.end());
    return last;
  }
  void advance(Duration d) {
    now.mono += d;
    now.wall += d;
  }
  // Moves time to the armed timer and fires it.
  timeline::Transition& fire() {
    REQUIRE(last.wake_at);
    const auto d = std::chrono::duration_cast<Duration>(*last.wake_at - now.mono);
    if (d > Duration::zero()) advance(d + Duration(1));
    return feed(timeline::TimerFired{});
  }

  template <class A>
  static bool has(const timeline::Transition& t) {
    return std::any_of(t.actions.begin(), t.actions.end(),
                       [](const timeline::Action& a) { return std::holds_alternative<A>(a); });
  }
  template <class A>
  static std::optional<A> find(const timeline::Transition& t) {
    for (const auto& a : t.actions)
      if (auto p = std::get_if<A>(&a)) return *p;
    return std::nullopt;
  }
  template <class A>
  std::size_t count_actions() const {
    return std::count_if(all.begin(), all.end(), [](const timeline::Action& a) { return std::holds_alternative<A>(a); });
  }
  // The journal records named `event` among `actions`, in order.
  static std::vector<timeline::Journal> records(const std::vector<timeline::Action>& actions, const std::string& event) {
    std::vector<timeline::Journal> out;
    for (const auto& a : actions)
      if (auto j = std::get_if<timeline::Journal>(&a); j && j->event == event) out.push_back(*j);
    return out;
  }
  // ... among every action so far.
  std::vector<timeline::Journal> records(const std::string& event) const { return records(all, event); }
  std::size_t count(const std::string& event) const { return records(all, event).size(); }
  std::size_t count_now(const std::string& event) const { return records(last.actions, event).size(); }
  // The journal events in order (gate records left out).
  std::vector<std::string> events() const {
    std::vector<std::string> out;
    for (const auto& a : all)
      if (auto j = std::get_if<timeline::Journal>(&a); j && j->event != "gate") out.push_back(j->event);
    return out;
  }
  // The view of the last Publish in the last transition.
  timeline::View view() const {
    for (auto it = last.actions.rbegin(); it != last.actions.rend(); ++it)
      if (auto p = std::get_if<timeline::Publish>(&*it)) return p->view;
    FAIL("no Publish in the last transition");
    return {};
  }
};

}  // namespace cdp::testfx
