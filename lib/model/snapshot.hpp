// The snapshot the decision core reads: everything the gates need, at one instant.
// Built by the live model (daemon) or by a fresh sync (one-shot commands). Plain data.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "disk/usage.hpp"
#include "model/types.hpp"
#include "util/time.hpp"

namespace cdp {

// One full GET /services?status=true result and when it was taken.
struct ServiceObservation {
  TimePoint at;
  std::vector<Service> services;
};

struct Snapshot {
  bool docker_connected = false;  // the engine answers
  bool synced = false;            // lists applied since the last (re)connect; false = stale
  // false when /services answered 503 (not a manager / swarm inactive): the runs gate
  // works from containers alone and the converge gate says so.
  bool services_visible = true;

  // Containers in any state the model knows (the runs gate looks at live states only).
  std::vector<Container> containers;
  // Set by the live model when it counts stacks itself (LiveModel::set_stack_labels): the
  // stack of each live container (the first of gates.stack_labels present) and how many
  // live containers carry it. `containers` is then left empty: copying 10 000 containers
  // per decision made the cost of one event grow with the host (issue 9).
  std::optional<std::map<std::string, std::size_t>> live_container_stacks;
  // The two latest service observations (SPEC: converged on two consecutive
  // observations at least one second apart). `previous` is cleared by a service event.
  std::optional<ServiceObservation> services_latest;
  std::optional<ServiceObservation> services_previous;

  std::optional<DiskUsage> disk;  // nullopt: the disk could not be read (gate closed)
  std::string disk_error;         // why, when disk is nullopt
  std::string disk_path;          // the path the disk gate watches ("" until known)

  std::optional<TimePoint> last_prune_finished;
};

}  // namespace cdp
