// Byte counts and UTC instants as text (util/format.hpp). Pure: no I/O, no clock.
#include "util/format.hpp"

#include <array>
#include <ctime>

#include <fmt/format.h>

namespace cdp {

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  static constexpr std::array<const char*, 6> units{"kB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(bytes) / 1000.0;
  std::size_t u = 0;
  // Switch unit before printing "1000.0 MB" (999.96 MB rounds up to it).
  while (v >= 999.95 && u + 1 < units.size()) {
    v /= 1000.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string format_utc(TimePoint t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace cdp
