// Sane-range warnings on a valid config (config/sanity.hpp). Pure.
#include "config/sanity.hpp"

#include <fmt/format.h>

#include "util/duration.hpp"

namespace cdp {

namespace {
// Below this a threshold is open nearly always: every gate decision becomes "prune".
constexpr double kLowPercent = 5;
// A prune.until shorter than this removes what a running CI job has just built or
// stopped (a compose stack's `created` containers, a build's fresh cache).
constexpr Duration kShortUntil = std::chrono::minutes(1);
// statvfs more often than this buys nothing: crossings are seen by inotify within 2 s.
constexpr Duration kShortPoll = std::chrono::seconds(1);
// A service unconverged for less than this is a normal rolling update, not stuck.
constexpr Duration kShortStuck = std::chrono::minutes(1);

void percent(std::vector<std::string>& out, const char* key, double v) {
  if (v >= kLowPercent) return;
  out.push_back(fmt::format("{} is {:g}: a percentage, not a fraction ({:g} means {:g} %, the gate is open almost "
                            "always{})",
                            key, v, v, v, v <= 1 ? fmt::format("; for {:g} % write {:g}", v * 100, v * 100) : ""));
}
}  // namespace

std::vector<std::string> config_warnings(const Config& c) {
  std::vector<std::string> out;
  percent(out, "disk.threshold_percent", c.disk.threshold_percent);
  percent(out, "disk.inode_threshold_percent", c.disk.inode_threshold_percent);
  if (c.prune.until_duration < kShortUntil)
    out.push_back(fmt::format("prune.until is {}: shorter than {}, a prune removes containers, dangling images and "
                              "build cache a CI job has only just made",
                              c.prune.until, format_duration(kShortUntil)));
  if (c.disk.poll_interval < kShortPoll)
    out.push_back(fmt::format("disk.poll_interval is {}: shorter than {} costs wake-ups and buys nothing (changes "
                              "are seen within 2 s anyway)",
                              format_duration(c.disk.poll_interval), format_duration(kShortPoll)));
  if (c.gates.stuck_after > Duration::zero() && c.gates.stuck_after < kShortStuck)
    out.push_back(fmt::format("gates.stuck_after is {}: a normal rolling update takes longer, so deploys in flight "
                              "would stop holding the converge gate (\"0s\" turns stuck detection off)",
                              format_duration(c.gates.stuck_after)));
  return out;
}

}  // namespace cdp
