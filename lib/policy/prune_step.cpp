// Names of the prune's steps and step outcomes, as the journal and `prune --json` show them.
#include "policy/prune_step.hpp"

namespace cdp {

const char* step_name(PruneStep s) {
  switch (s) {
    case PruneStep::containers: return "containers";
    case PruneStep::images: return "images";
    case PruneStep::build_cache: return "build_cache";
  }
  return "?";
}

const char* outcome_name(StepResult::Outcome o) {
  using O = StepResult::Outcome;
  switch (o) {
    case O::done: return "done";
    case O::dry_run: return "dry_run";
    case O::deferred: return "deferred";
    case O::failed: return "failed";
    case O::disabled: return "disabled";
    case O::gate_closed: return "gate_closed";
  }
  return "?";
}

}  // namespace cdp
