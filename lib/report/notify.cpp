// sd_notify messages (libsystemd). A no-op without NOTIFY_SOCKET, as libsystemd makes it.
// Must not decide when to send: the daemon's manager does.
#include "report/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <string>

namespace cdp::notify {

namespace {
void send(const std::string& text) {
  // unset_environment=0: a reload or a child may need NOTIFY_SOCKET again.
  (void)sd_notify(0, text.c_str());
}
}  // namespace

void ready() { send("READY=1"); }

void status(const std::string& line) {
  // STATUS is one line: a newline would end the field early.
  std::string one = line;
  for (char& c : one)
    if (c == '\n') c = ' ';
  send("STATUS=" + one);
}

void reloading() {
  // systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 (Type=notify-reload); older ones ignore it.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::uint64_t usec = std::uint64_t(ts.tv_sec) * 1'000'000 + std::uint64_t(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void stopping() { send("STOPPING=1"); }

void watchdog() { send("WATCHDOG=1"); }

std::optional<Duration> watchdog_interval() {
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is unset or ours (FACTS).
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  const auto half = std::chrono::duration_cast<Duration>(std::chrono::microseconds(usec / 2));
  return half > Duration::zero() ? half : Duration(1);
}

}  // namespace cdp::notify
