// The decision: the daemon's state and whether to prune now, from the gate report and
// the scheduler's own memory (when all gates opened, whether a prune is in flight). Pure.
#pragma once
#include <optional>
#include <string>

#include "policy/gates.hpp"

namespace cdp {

enum class State { connecting, idle, blocked, settling, pruning, cooldown };
const char* state_name(State s);  // the SPEC's lower-case names

struct SchedulerMemory {
  std::optional<TimePoint> all_open_since;  // when all gates were last seen turning open
  bool prune_in_flight = false;
  // No automatic prune before this instant even with every gate open and settled: the
  // 10 s floor after any prune, the retry after a 409, a dry-run's repeat. The state stays
  // what the gates say (a hold is not the cooldown gate); the wake-up includes it.
  std::optional<TimePoint> not_before;
};

struct Decision {
  State state = State::connecting;
  GateReport report;
  bool prune_now = false;  // all open for >= settle and nothing in flight
  // When a prune could start at the earliest given what is known now (cooldown end,
  // settle end); nullopt when a non-time gate is closed.
  std::optional<TimePoint> next_prune_not_before;
  // When to decide again even if nothing else happens (settle end or report.time_wakeup).
  std::optional<TimePoint> wake_at;
};

// State precedence: connecting (docker down or not synced) > pruning (in flight) >
// idle (disk gate closed) > blocked (runs/converge closed) > cooldown > settling.
// `now` is both clocks for the gates (evaluate_gates); the decision itself, the memory and
// the times it returns are in the wall frame of now.wall (the timeline projects them).
Decision decide(const Snapshot& snap, const Config& config, Now now, const SchedulerMemory& memory);

// The scheduler's memory after this decision: all_open_since set when all gates are open
// (kept if already set), cleared otherwise.
SchedulerMemory remember(const SchedulerMemory& before, const GateReport& report, TimePoint now);

}  // namespace cdp
