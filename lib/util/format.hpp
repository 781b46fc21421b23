// Formatting shared by several rooms: byte counts and UTC instants, one definition each
// (they used to be copied into status_line, gates, cmd_oneshot and cmd_status). Pure.
#pragma once
#include <cstdint>
#include <string>

#include "util/time.hpp"

namespace cdp {

// Decimal units like docker's CLI: "0 B", "999 B", "1.2 kB", "12.3 MB", "1.2 GB", "3.4 TB".
std::string format_bytes(std::uint64_t bytes);

// "2026-11-27T00:15:00Z": unambiguous in logs, STATUS and JSON whatever the host's zone.
std::string format_utc(TimePoint t);

}  // namespace cdp
