// The surgical prune: the ONLY code in the project that sends a prune request.
// It can build exactly three targets (containers, images, build cache) with exactly
// the filter {"until":[<until>]}; there is no path for volumes, networks, `dangling`
// or `all`. Only this code knows about dry-run.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "docker/client.hpp"
#include "model/types.hpp"

namespace cdp {

enum class PruneStep { containers, images, build_cache };
const char* step_name(PruneStep s);  // "containers", "images", "build_cache"

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

struct PruneResult {
  std::vector<StepResult> steps;
  std::uint64_t reclaimed = 0;  // sum over steps
  bool any_deferred = false;
  bool stopped_by_gate = false;
  std::string summary;          // one line: "containers 3 (12 MB), images 2 (1.1 GB), build_cache 0 (0 B)"
};

// Called right before each step on the live model (daemon) or a fresh sync (one-shot).
// Returns nullopt to go on, or the reason a gate closed (the rest is not sent).
using GateCheck = std::function<awaitable<std::optional<std::string>>()>;

// Runs the enabled steps in order. A request, once sent, is never cancelled (no timeout).
awaitable<PruneResult> run_prune(docker::Client& client, const Config::Prune& prune, TimePoint now,
                                 GateCheck check_before_step);

}  // namespace cdp
