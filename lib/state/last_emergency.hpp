// The last emergency episode in the state file (key "last_emergency"), so `status` and D-Bus
// still show it after a restart. Owns only its JSON shape; the timeline decides what it
// holds, StateFile writes it. A malformed entry reads as none (never a crash).
#pragma once
#include <optional>

#include <nlohmann/json.hpp>

#include "policy/timeline.hpp"

namespace cdp {

inline constexpr const char* kLastEmergencyKey = "last_emergency";

// {"finished_us": µs since epoch, "evicted": n, "reclaimed_bytes": n, "ended": "target_reached", "dry_run": false}
nlohmann::json last_emergency_to_json(const timeline::LastEmergency& last);
std::optional<timeline::LastEmergency> last_emergency_from_json(const nlohmann::json& j);

}  // namespace cdp
