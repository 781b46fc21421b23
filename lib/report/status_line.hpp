// The one-line summary (sd_notify STATUS=, `status` and one-shot output): state first,
// then disk, runs, converge and the last prune. Pure: no I/O, no clock.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "model/snapshot.hpp"
#include "policy/decision.hpp"
#include "util/format.hpp"  // format_bytes, declared here before it moved to util
#include "util/time.hpp"

namespace cdp {

// e.g. "blocked: disk 84.1% >= 80% on /var/lib/docker; run stack abcd-1a2b3c_ci_commoninternet_net live;
// 0 services converging; last prune 2h ago (1.2 GB)". `last_reclaimed` is shown when set
// and a last prune is known.
std::string status_line(const Decision& decision, const Snapshot& snap, const Config& config, TimePoint now,
                        std::optional<std::uint64_t> last_reclaimed);


}  // namespace cdp
