// One simulated trace: the fake Docker host (world.hpp), and the daemon's real pure parts
// (cdp::LiveModel, cdp::timeline::step/restore, the gates) driven the way daemon/ drives
// them, on a fake clock, with every invariant checked after every timeline step.
// Deterministic: everything comes from Options::seed. Must not read a real clock.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sim {

struct Options {
  std::uint64_t seed = 1;
  std::int64_t max_steps = 120;        // timeline::step() calls in this trace
  std::int64_t max_hours = 12;         // simulated time limit
  bool trace = false;                  // keep a readable trace (replay a failure with it)
  // A locked swarm and a manager without quorum (/services 503 on a manager). SPEC: runs
  // and converge closed. Needs the swarm-role handling of the model/gates (branch safety).
  bool swarm_faults = false;
  // The wall clock may step backwards. Off: forward steps only. A backward step makes the
  // service observations (stamped with the wall clock by the live model) look less than
  // 1 s apart, so the confirming lists refuse one prune: a liveness failure (README).
  bool wall_back = true;
  // The liveness bound's slack beyond settle + max(cooldown, 10 s floor).
  std::int64_t liveness_slack_ms = 2000;
};

struct Stats {
  std::int64_t steps = 0;
  std::int64_t sim_ms = 0;
  std::int64_t prunes_started = 0;     // StartConfirm
  std::int64_t steps_sent = 0;         // SendStep (dry-run ones included)
  std::int64_t confirm_refused = 0;    // the confirming lists closed a gate (model_drift or not)
  std::int64_t deferred = 0;           // 409 answers
  std::int64_t daemon_restarts = 0;
  std::int64_t liveness_met = 0;       // quiet stretches that got their prune in time

  Stats& operator+=(const Stats& o);
};

struct Result {
  bool ok = true;
  std::string failure;               // the violated invariant, one line
  Stats stats;
  std::vector<std::string> trace;    // the last ~50 steps (with Options::trace)
};

Result run_trace(const Options& options);

// "build/sim --seed N --steps K --trace [--swarm-faults]"
std::string replay_command(const Options& options);

}  // namespace sim
