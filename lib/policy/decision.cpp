// The decision: state, prune-now, next-prune and wake-up times from a gate report and
// the scheduler's memory. Pure: no I/O, no clock, no logging (STYLE.md).
#include "policy/decision.hpp"

#include <algorithm>

namespace cdp {

const char* state_name(State s) {
  switch (s) {
    case State::connecting: return "connecting";
    case State::idle: return "idle";
    case State::blocked: return "blocked";
    case State::settling: return "settling";
    case State::pruning: return "pruning";
    case State::cooldown: return "cooldown";
  }
  return "?";
}

namespace {
std::optional<TimePoint> min_opt(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}
}  // namespace

Decision decide(const Snapshot& snap, const Config& config, Now both, const SchedulerMemory& memory) {
  Decision d;
  d.report = evaluate_gates(snap, config, both);
  const TimePoint now = both.wall;
  const auto& r = d.report;
  const bool disk_open = r.gate(GateId::disk).open;
  const bool others_open = r.gate(GateId::runs).open && r.gate(GateId::converge).open;
  const bool cooldown_open = r.gate(GateId::cooldown).open;

  if (!snap.docker_connected || !snap.synced) d.state = State::connecting;
  else if (memory.prune_in_flight) d.state = State::pruning;
  else if (!disk_open) d.state = State::idle;
  else if (!others_open) d.state = State::blocked;
  else if (!cooldown_open) d.state = State::cooldown;
  else d.state = State::settling;

  const Duration settle = config.gates.settle;
  if (r.all_open()) {
    // Not yet remembered (first decision with all open): settle starts now.
    const TimePoint since = memory.all_open_since.value_or(now);
    const TimePoint settled = since + settle;
    const TimePoint ready = std::max(settled, memory.not_before.value_or(settled));
    d.prune_now = ready <= now && !memory.prune_in_flight && d.state != State::connecting;
    d.next_prune_not_before = std::max(ready, now);
    if (ready > now) d.wake_at = ready;
  } else if (disk_open && others_open && !cooldown_open && snap.last_prune_finished) {
    // Only time stands in the way: cooldown end, then a full settle.
    const TimePoint cooldown_end = *snap.last_prune_finished + config.prune.cooldown;
    d.next_prune_not_before = std::max(cooldown_end + settle, memory.not_before.value_or(cooldown_end));
  }
  d.wake_at = min_opt(d.wake_at, r.time_wakeup);
  // Never ask to be woken in the past: that would spin.
  if (d.wake_at && *d.wake_at <= now) d.wake_at.reset();
  return d;
}

SchedulerMemory remember(const SchedulerMemory& before, const GateReport& report, TimePoint now) {
  SchedulerMemory m = before;
  if (report.all_open()) m.all_open_since = before.all_open_since.value_or(now);
  else m.all_open_since.reset();
  return m;
}

}  // namespace cdp
