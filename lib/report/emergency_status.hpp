// How STATUS, `status` (text and --json) show the emergency tier: whether it is enabled and
// its last episode (when, images evicted, bytes, how it ended). Pure formatting of values
// the timeline produced (timeline::LastEmergency) or D-Bus carried (BusState); no I/O.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/timeline.hpp"
#include "report/bus.hpp"
#include "util/time.hpp"

namespace cdp {

// "12m ago: evicted 3 images (1.2 GB), target_reached"; a dry-run episode says
// "would evict 3 images (1.2 GB by their sizes), target_reached, dry-run".
std::string last_episode_text(const timeline::LastEmergency& last, TimePoint now);

// The STATUS line's part, only when the tier is enabled (else ""): "emergency tier on",
// "emergency tier evicting", or "emergency tier on, last episode <last_episode_text>".
std::string emergency_status_part(const timeline::View& view, TimePoint now);

// The last episode as D-Bus carried it (LastEmergencyFinished 0 = none).
std::optional<timeline::LastEmergency> last_emergency_of(const BusState& st);

// `status`: "Emergency tier: on; last episode 12m ago (2026-11-30T10:00:00Z): evicted ..."
std::string emergency_status_text(const BusState& st, TimePoint now);
// `status --json` "emergency": {"enabled", "last_episode": null or {"finished" (UTC),
// "finished_us", "evicted", "reclaimed_bytes", "ended", "dry_run"}}.
nlohmann::json emergency_status_json(const BusState& st);

}  // namespace cdp
