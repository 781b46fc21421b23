// A one-waiter wakeup for the daemon's coroutines: notify() wakes the waiter (or the next
// wait(), if nobody waits yet), a deadline wakes it otherwise. Single-threaded (the
// io_context's thread); no locks. Must not carry data: the model is the state.
#pragma once
#include <chrono>
#include <optional>

#include "util/net.hpp"

namespace cdp {

class Wakeup {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  explicit Wakeup(asio::any_io_executor ex) : timer_(ex) {}

  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  // Returns true when woken by notify(), false when the deadline passed.
  awaitable<bool> wait(std::optional<SteadyTime> deadline) {
    if (!pending_) {
      timer_.expires_at(deadline.value_or(SteadyTime::max()));
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    const bool notified = pending_;
    pending_ = false;
    co_return notified;
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

// Sleeps until `t` (or returns early when the timer is cancelled).
inline awaitable<void> sleep_until(std::chrono::steady_clock::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

}  // namespace cdp
