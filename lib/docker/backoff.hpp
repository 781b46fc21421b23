// The reconnect backoff of the Docker watch (SPEC "Never twice", recovery): doubles up to
// a cap after each failed session, and is reset only by a session that stayed synced for
// a while -- not by a re-list that failed right after connecting (that reset gave one
// warning a second forever, issue 7). Pure: the caller measures the time synced.
#pragma once
#include <algorithm>
#include <chrono>
#include <optional>

#include "util/time.hpp"

namespace cdp::docker {

class Backoff {
 public:
  static constexpr Duration kFirst = std::chrono::seconds(1);
  static constexpr Duration kMax = std::chrono::seconds(30);
  // A session synced at least this long counts as healthy: the next failure starts over.
  static constexpr Duration kHealthySession = std::chrono::seconds(60);

  // A session ended (or never got synced: nullopt). Returns how long to wait before the
  // next attempt.
  Duration after_session(std::optional<Duration> synced_for) {
    if (synced_for && *synced_for >= kHealthySession) current_ = kFirst;
    const Duration wait = current_;
    current_ = std::min<Duration>(current_ * 2, kMax);
    return wait;
  }
  // A deliberate reconnect (docker.host changed): start over.
  void reset() { current_ = kFirst; }
  Duration current() const { return current_; }

 private:
  Duration current_ = kFirst;
};

}  // namespace cdp::docker
