// Go-style duration parsing and formatting (time.ParseDuration / Duration.String).
// Owns only text <-> Duration; no I/O, no clock. The parser follows Go's algorithm
// (src/time/format.go) so that whatever we accept, Docker's `until` filter accepts too.
#include "util/duration.hpp"

#include <cstdint>
#include <string>

namespace cdp {
namespace {

using u64 = std::uint64_t;
constexpr u64 kMaxNanos = u64{1} << 63;  // Go's bound: |d| must fit in int64 nanoseconds

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Go's leadingInt: the leading digits of `s`; false on overflow.
bool leading_int(std::string_view& s, u64& out) {
  u64 x = 0;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (x > kMaxNanos / 10) return false;
    x = x * 10 + static_cast<u64>(s[i] - '0');
    if (x > kMaxNanos) return false;
  }
  s.remove_prefix(i);
  out = x;
  return true;
}

// Go's leadingFraction: digits after the dot; excess precision is dropped, not an error.
void leading_fraction(std::string_view& s, u64& f, double& scale) {
  std::size_t i = 0;
  bool overflow = false;
  f = 0;
  scale = 1;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (overflow) continue;
    if (f > (kMaxNanos - 1) / 10) {
      overflow = true;
      continue;
    }
    u64 y = f * 10 + static_cast<u64>(s[i] - '0');
    if (y > kMaxNanos) {
      overflow = true;
      continue;
    }
    f = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

// Nanoseconds per unit; 0 for an unknown unit. Both micro signs are Go units.
u64 unit_nanos(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xc2\xb5s" /* U+00B5 */ || u == "\xce\xbcs" /* U+03BC */) return 1'000;
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60 * u64{1'000'000'000};
  if (u == "h") return 3600 * u64{1'000'000'000};
  return 0;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view s) {
  // Unlike Go we refuse a sign: a negative `until` or cooldown is never meant.
  if (s == "0") return Duration::zero();
  if (s.empty()) return std::nullopt;
  u64 total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return std::nullopt;
    std::size_t before = s.size();
    u64 v = 0;
    if (!leading_int(s, v)) return std::nullopt;
    bool pre = before != s.size();
    bool post = false;
    u64 f = 0;
    double scale = 1;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      std::size_t at = s.size();
      leading_fraction(s, f, scale);
      post = at != s.size();
    }
    if (!pre && !post) return std::nullopt;  // "." or ".s"
    std::size_t i = 0;
    while (i < s.size() && s[i] != '.' && !is_digit(s[i])) ++i;
    if (i == 0) return std::nullopt;  // missing unit: "5", "1h30"
    u64 unit = unit_nanos(s.substr(0, i));
    if (unit == 0) return std::nullopt;  // "1d", "5 s", "5S"
    s.remove_prefix(i);
    if (v > kMaxNanos / unit) return std::nullopt;
    v *= unit;
    if (f > 0) {
      v += static_cast<u64>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kMaxNanos) return std::nullopt;
    }
    total += v;
    if (total > kMaxNanos) return std::nullopt;
  }
  if (total > kMaxNanos - 1) return std::nullopt;
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<std::int64_t>(total)));
}

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms == 0) return "0s";
  if (ms < 1000) return out + std::to_string(ms) + "ms";
  std::int64_t h = ms / 3'600'000;
  std::int64_t m = ms / 60'000 % 60;
  std::int64_t s = ms / 1000 % 60;
  std::int64_t frac = ms % 1000;
  // Go prints hours and minutes only once they are non-zero, then always minutes.
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac > 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 3 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "s";
}

std::string format_age(Duration d) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (secs < 0) secs = 0;  // a clock step backwards reads as "just now", never negative
  if (secs >= 86400) return std::to_string(secs / 86400) + "d";
  if (secs >= 3600) return std::to_string(secs / 3600) + "h";
  if (secs >= 60) return std::to_string(secs / 60) + "m";
  return std::to_string(secs) + "s";
}

}  // namespace cdp
