// watch_run_stacks (run_stack_watch.hpp). Pure.
#include "policy/run_stack_watch.hpp"

#include <fmt/format.h>

namespace cdp {

RunStackVerdict watch_run_stacks(const RunStackWatch& before, const GateReport& report, const std::string& pattern,
                                 SteadyTime now) {
  RunStackVerdict v{before, false, std::nullopt};
  if (!report.live_run_stacks.empty()) {
    v.newly_matched = !before.ever_matched;
    v.state.ever_matched = true;
    return v;
  }
  // Runs closed for another reason (Docker unknown, swarm locked): nothing to say about it.
  if (before.ever_matched || !report.gate(GateId::disk).open || !report.gate(GateId::runs).open) return v;
  if (before.last_warned && now - *before.last_warned < kRunStackWarnEvery) return v;
  v.state.last_warned = now;
  v.warn = fmt::format(
      "The disk is over the threshold and gates.run_stacks ({}) has never matched a live stack on this host: if "
      "CI names its stacks differently, the runs gate never closes and pruning may run mid-run (runbook: "
      "\"Choosing gates.run_stacks\"); repeated daily until a run stack matches",
      pattern);
  return v;
}

}  // namespace cdp
