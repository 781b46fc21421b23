// The Reporter seam: where the daemon's words go (sd_notify STATUS, the journal, D-Bus).
// The manager owns one and carries the timeline's report actions out through it; tests and
// a simulation wire a recording fake. Must not decide what is said or when.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "policy/timeline.hpp"
#include "report/bus.hpp"

namespace cdp {

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void status(const std::string& line) = 0;  // STATUS= (callers skip repeats)
  virtual void journal(const timeline::Journal& record) = 0;
  virtual void bus_state(const BusState& state) = 0;  // callers skip repeats
  virtual void prune_finished(std::uint64_t reclaimed, const std::string& summary) = 0;
};

// The real one: notify::status, journal::event, and the bus when there is one (`bus` may
// be null: no system bus; it must outlive the reporter).
std::unique_ptr<Reporter> make_system_reporter(const std::unique_ptr<Bus>& bus);

}  // namespace cdp
