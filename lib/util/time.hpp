// Time types shared by every room. The core takes time as an input (STYLE.md):
// nothing outside daemon/ and the edges reads the clock.
#pragma once
#include <chrono>

namespace cdp {
using Clock = std::chrono::system_clock;  // wall clock: Docker's UpdatedAt and D-Bus times are epoch-based
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;
// The monotonic clock: every interval the daemon enforces (settle, cooldown, retries).
using SteadyTime = std::chrono::steady_clock::time_point;

// Both clocks, read once together by whoever drives the core (the timeline's `now`).
struct Now {
  SteadyTime mono;  // every interval (settle, floor, cooldown, retries, slow, blocked_long)
  TimePoint wall;   // reported and persisted only, and Docker's wall timestamps
};
}  // namespace cdp
