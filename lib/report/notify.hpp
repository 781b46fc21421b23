// sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING. A no-op without NOTIFY_SOCKET.
#pragma once
#include <optional>
#include <string>

#include "util/time.hpp"

namespace cdp::notify {
void ready();
void status(const std::string& line);
void reloading();   // RELOADING=1 (+ MONOTONIC_USEC)
void stopping();
void watchdog();
// Half of WATCHDOG_USEC when the watchdog is enabled for this process, else nullopt.
std::optional<Duration> watchdog_interval();
}  // namespace cdp::notify
