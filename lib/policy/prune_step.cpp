// Names of the prune's steps and step outcomes, as the journal and `prune --json` show them.
#include "policy/prune_step.hpp"

#include <fmt/format.h>

#include "util/bytes.hpp"

namespace cdp {

const char* step_name(PruneStep s) {
  switch (s) {
    case PruneStep::containers: return "containers";
    case PruneStep::images: return "images";
    case PruneStep::build_cache: return "build_cache";
  }
  return "?";
}

bool step_enabled(const Config::Prune& p, PruneStep s) {
  switch (s) {
    case PruneStep::containers: return p.containers;
    case PruneStep::images: return p.images;
    case PruneStep::build_cache: return p.build_cache;
  }
  return false;
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

std::string summarize_steps(const std::vector<StepResult>& steps) {
  std::string out;
  for (const auto& s : steps) {
    if (!out.empty()) out += ", ";
    using O = StepResult::Outcome;
    switch (s.outcome) {
      case O::done: out += fmt::format("{} {} ({})", step_name(s.step), s.deleted.size(), format_bytes(s.reclaimed)); break;
      case O::dry_run:
        out += fmt::format("{} would remove {} ({})", step_name(s.step), s.deleted.size(), format_bytes(s.reclaimed));
        break;
      case O::deferred: out += fmt::format("{} deferred (a prune is already running)", step_name(s.step)); break;
      case O::failed: out += fmt::format("{} failed: {}", step_name(s.step), s.detail); break;
      case O::disabled: out += fmt::format("{} disabled", step_name(s.step)); break;
      case O::gate_closed: out += fmt::format("{} not sent: {}", step_name(s.step), s.detail); break;
    }
  }
  return out;
}


}  // namespace cdp
