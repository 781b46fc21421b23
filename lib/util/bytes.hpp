// Byte counts for people, like docker's CLI. Pure; no I/O. Shared by the timeline's
// journal records (policy/) and the STATUS/`status`/one-shot output (report/, daemon/).
#pragma once
#include <cstdint>
#include <string>

namespace cdp {
// Decimal units like docker's CLI: "0 B", "999 B", "1.2 kB", "12.3 MB", "1.2 GB", "3.4 TB".
std::string format_bytes(std::uint64_t bytes);
}  // namespace cdp
