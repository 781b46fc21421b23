// The "run_stacks matches nothing" warning (issue 12 item 8): with a pattern written for
// another CI, the runs gate never closes and `status` reads like a healthy host. Pure: the
// caller passes the gate report, the monotonic time and whether a run stack was ever seen
// (kept in the state file under "run_stack_seen_at"); no I/O, no clock, no logging.
#pragma once
#include <optional>
#include <string>

#include "policy/gates.hpp"
#include "util/time.hpp"

namespace cdp {

// Once a day at most, so a host parked over the threshold is told daily, not per decision.
inline constexpr Duration kRunStackWarnEvery = std::chrono::hours(24);

struct RunStackWatch {
  bool ever_matched = false;             // a live run stack was seen (this run or the state file)
  std::optional<SteadyTime> last_warned;  // when the warning was last given (monotonic)
};

struct RunStackVerdict {
  RunStackWatch state;
  bool newly_matched = false;         // first live run stack: persist it
  std::optional<std::string> warn;    // the warning to log now, if any
};

// After each decision: a live run stack marks the pattern as matching; else, with the disk
// gate open (pressure) and nothing ever matched, warn at most once per kRunStackWarnEvery.
RunStackVerdict watch_run_stacks(const RunStackWatch& before, const GateReport& report, const std::string& pattern,
                                 SteadyTime now);

}  // namespace cdp
