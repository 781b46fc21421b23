// One structured journal record as the pure policy code emits it (the timeline and the
// emergency tier): severity, CDP_EVENT, fields, message. Only the type: report/ writes it.
// Its own header so timeline.hpp can include emergency.hpp, which emits these records too.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cdp::timeline {

enum class Severity { debug, info, warn };
using Fields = std::vector<std::pair<std::string, std::string>>;

// One structured journal record: CDP_EVENT=event plus fields (empty values are left out).
struct Journal {
  Severity severity = Severity::info;
  std::string event;  // gate prune_start prune_step prune_done prune_skipped still_full
                      // blocked_long model_drift prune_slow emergency_start emergency_evict
                      // emergency_done
  Fields fields;
  std::string message;
};

}  // namespace cdp::timeline
