// Values that are valid but almost surely not what the operator meant (issue 12:
// `threshold_percent: 0.8` is read as 0.8 %, `until: "1ms"` prunes what was just made).
// Warnings only: check-config prints them and exits 0, the daemon logs them at start and
// on reload. Pure; must not reject anything (validation lives in config.cpp).
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace cdp {

// One message per suspicious value, each naming the key, e.g.
// "disk.threshold_percent is 0.8 (percent, not a fraction: 0.8 means 0.8 %; 80 is 80 %)".
std::vector<std::string> config_warnings(const Config& config);

}  // namespace cdp
