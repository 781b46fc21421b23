// The one-line summary (sd_notify STATUS=, `status` and one-shot output): state first,
// then disk, runs, converge and the last prune. Pure: no I/O, no clock.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "model/snapshot.hpp"
#include "policy/decision.hpp"
#include "policy/timeline.hpp"
#include "util/format.hpp"  // format_bytes, declared here before it moved to util
#include "util/time.hpp"

namespace cdp {

// e.g. "blocked: disk 84.1% >= 80% on /var/lib/docker; run stack abcd-1a2b3c_ci_commoninternet_net live;
// 0 services converging; last prune 2h ago (1.2 GB)". `last_reclaimed` is shown when set
// and a last prune is known.
std::string status_line(const Decision& decision, const Snapshot& snap, const Config& config, TimePoint now,
                        std::optional<std::uint64_t> last_reclaimed);

// The daemon's STATUS from the timeline's view: the line above with the last prune from the
// view (not the snapshot), then "; step images running for 12m (slow, not cancelled)" while
// a step is slow, and "; dry-run: nothing is deleted, the last dry run would free 1.2 GB".
std::string status_line(const timeline::View& view, const Snapshot& snap, const Config& config, TimePoint now);


}  // namespace cdp
