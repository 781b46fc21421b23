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
#include "policy/prune_step.hpp"

namespace cdp {

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

// One step, as the daemon's timeline asks for it (SendStep): sent (never cancelled), or in
// dry-run the candidates listed and nothing sent. Never fails: errors are outcome failed.
awaitable<StepResult> run_step(docker::Client& client, const Config::Prune& prune, PruneStep step, TimePoint now);

// Runs the enabled steps in order (the one-shot `prune` command). A request, once sent, is never cancelled (no timeout).
awaitable<PruneResult> run_prune(docker::Client& client, const Config::Prune& prune, TimePoint now,
                                 GateCheck check_before_step);

}  // namespace cdp
