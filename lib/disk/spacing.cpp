// Adaptive statvfs spacing (disk/spacing.hpp). Pure arithmetic on DiskUsage numbers:
// no statvfs, no clock, no logging.
#include "disk/spacing.hpp"

#include <algorithm>
#include <cmath>

namespace cdp {

namespace {
// |threshold * total - used|, in the unit of used/avail; total = used + avail as in df.
std::uint64_t distance(std::uint64_t used, std::uint64_t avail, double threshold_percent) {
  const double total = static_cast<double>(used) + static_cast<double>(avail);
  const double at = total * std::clamp(threshold_percent, 0.0, 100.0) / 100.0;
  return static_cast<std::uint64_t>(std::ceil(std::fabs(at - static_cast<double>(used))));
}

double per_second(std::uint64_t before, std::uint64_t after, double seconds) {
  return after > before ? static_cast<double>(after - before) / seconds : 0.0;
}
}  // namespace

std::uint64_t bytes_to_threshold(const DiskUsage& u, double threshold_percent) {
  return distance(u.used_bytes, u.avail_bytes, threshold_percent);
}

std::uint64_t inodes_to_threshold(const DiskUsage& u, double threshold_percent) {
  return distance(u.used_inodes, u.avail_inodes, threshold_percent);
}

FillRate observed_fill_rate(const DiskUsage& before, const DiskUsage& after, Duration elapsed) {
  const double s = std::chrono::duration<double>(elapsed).count();
  if (s <= 0) return {};
  return {per_second(before.used_bytes, after.used_bytes, s), per_second(before.used_inodes, after.used_inodes, s)};
}

Duration next_disk_read(const std::optional<DiskUsage>& usage, double threshold_percent,
                        double inode_threshold_percent, const DiskSpacing& spacing, const FillRate& observed) {
  const Duration lo = std::min(spacing.min, spacing.max);
  if (!usage) return spacing.max;
  const double byte_rate = std::max(spacing.bytes_per_second, observed.bytes_per_second);
  const double inode_rate = std::max(spacing.inodes_per_second, observed.inodes_per_second);
  double seconds = 1e18;
  // A filesystem without inode accounting (used + avail == 0) never crosses on inodes.
  if (usage->used_bytes + usage->avail_bytes > 0 && byte_rate > 0)
    seconds = std::min(seconds, static_cast<double>(bytes_to_threshold(*usage, threshold_percent)) / byte_rate);
  if (usage->used_inodes + usage->avail_inodes > 0 && inode_rate > 0)
    seconds = std::min(seconds,
                       static_cast<double>(inodes_to_threshold(*usage, inode_threshold_percent)) / inode_rate);
  const double max_s = std::chrono::duration<double>(spacing.max).count();
  const double gap = std::min(seconds, max_s) + std::chrono::duration<double>(spacing.grace).count();
  const auto ms = Duration(static_cast<Duration::rep>(std::min(gap, max_s) * 1000.0));
  return std::clamp(ms, lo, spacing.max);
}

}  // namespace cdp
