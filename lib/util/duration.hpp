// Go-style durations ("90s", "15m", "1h30m", "24h", "1.5h", "300ms"): the only form
// Docker's `until` filter accepts everywhere (FACTS). Pure; no I/O.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "util/time.hpp"

namespace cdp {
// Parses a non-negative Go duration. Units: ns us µs ms s m h. "0" alone is valid
// (as in Go). Returns nullopt for anything else (empty, sign, "1d", junk, overflow).
// Sub-millisecond remainders are truncated.
std::optional<Duration> parse_duration(std::string_view text);

// Formats like Go's time.Duration.String(), without fractions below a second
// when the value is whole: 90s -> "1m30s", 24h -> "24h0m0s", 0 -> "0s".
std::string format_duration(Duration d);

// Short human form for logs and STATUS: "2h", "15m", "42s", "3d".
std::string format_age(Duration d);
}  // namespace cdp
