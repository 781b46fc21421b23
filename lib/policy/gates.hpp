// The gates of SPEC.md, evaluated on a snapshot. Pure: no I/O, no clock, no logging,
// no exceptions. `now` (both clocks) is an input so tests can move and step time.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/snapshot.hpp"
#include "util/time.hpp"

namespace cdp {

enum class GateId { disk, runs, converge, cooldown };
const char* gate_name(GateId id);  // "disk", "runs", "converge", "cooldown"

struct GateVerdict {
  GateId id = GateId::disk;
  bool open = false;
  std::string reason;  // always set, e.g. "disk 84.1% >= 80% on /var/lib/docker"
};

struct GateReport {
  std::array<GateVerdict, 4> gates;  // in GateId order
  std::vector<std::string> live_run_stacks;      // sorted, unique
  std::vector<std::string> unconverged_services; // names (stuck ones excluded)
  std::vector<std::string> stuck_services;       // names, with why: "web (update paused)"
  // The earliest time at which a gate could change by the passing of time alone
  // (cooldown end, a service becoming stuck, the 1 s observation spacing), in the wall
  // frame of `now` (a monotonic instant is placed at now.wall + (t - now.mono)). nullopt: none.
  std::optional<TimePoint> time_wakeup;

  const GateVerdict& gate(GateId id) const { return gates[static_cast<int>(id)]; }
  bool all_open() const;
  bool all_open_except(GateId id) const;
};

// Evaluates every gate. Unknown means closed (docker not connected, not synced, disk unread).
// Both clocks, read once by the caller: the observation spacing is measured on `now.mono`
// (ServiceObservation::at is monotonic); `now.wall` is for Docker's wall timestamps
// (service UpdatedAt) and Snapshot::last_prune_finished (the timeline places it there
// from its monotonic instant).
GateReport evaluate_gates(const Snapshot& snap, const Config& config, Now now);

// Label values longer than this never reach std::regex: they do not match (SPEC).
inline constexpr std::size_t kMaxMatchedLabelBytes = 1024;

// The stack a service or container belongs to: the first of config.gates.stack_labels present.
std::optional<std::string> stack_of(const Labels& labels, const Config& config);
// is_live_container_state() lives in model/types.hpp (included through model/snapshot.hpp).
// The live states as a list, for the container list filters (model/types.hpp's one definition).
std::vector<std::string> live_container_states();

}  // namespace cdp
