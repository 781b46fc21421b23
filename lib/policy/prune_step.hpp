// The prune's vocabulary, shared by the timeline (which orders the steps and reads their
// outcomes) and the executor (lib/prune/, which sends them). Plain types, no I/O: the
// executor is the only code that turns a PruneStep into a request.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace cdp {

// Every finished prune's journal record carries this (SPEC "Reporting"); dry-runs do not.
inline constexpr const char* kPruneFinishedMessageId = "e7cea30e9fb54ec5bd9950e945aca9d8";

// SPEC "The surgical prune": the steps, in this order.
enum class PruneStep { containers, images, build_cache };
inline constexpr PruneStep kPruneSteps[] = {PruneStep::containers, PruneStep::images, PruneStep::build_cache};
const char* step_name(PruneStep s);  // "containers", "images", "build_cache"
// The step is on in the config (prune.containers / images / build_cache).
bool step_enabled(const Config::Prune& p, PruneStep s);

struct StepResult {
  PruneStep step = PruneStep::containers;
  enum class Outcome {
    done,         // sent, answered 200
    dry_run,      // listed what would go, sent nothing
    deferred,     // 409 "a prune operation is already running": retry later
    failed,       // error or other status; detail says why
    disabled,     // the step is off in the config
    gate_closed,  // a gate closed before this step; it and the rest were not sent
  } outcome = Outcome::done;
  std::vector<std::string> deleted;  // ids (null lists read as empty)
  std::uint64_t reclaimed = 0;       // SpaceReclaimed, or the candidates' sizes in dry-run
  std::string detail;
};
const char* outcome_name(StepResult::Outcome o);

// One line: "containers 3 (12 MB), images would remove 2 (1.1 GB), build_cache disabled".
std::string summarize_steps(const std::vector<StepResult>& steps);

}  // namespace cdp
