// The clock seam: the daemon reads both clocks through a TimeSource it owns, so tests and
// a simulation can move time. Only daemon/ and the edges call now().
#pragma once
#include "util/time.hpp"

namespace cdp {

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual Now now() const = 0;
};

// steady_clock + system_clock.
class SystemTime final : public TimeSource {
 public:
  Now now() const override { return {std::chrono::steady_clock::now(), Clock::now()}; }
};

}  // namespace cdp
