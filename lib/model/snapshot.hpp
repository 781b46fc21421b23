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

// One full GET /services?status=true result and when it was taken, on the MONOTONIC
// clock: the 1 s spacing between two observations is an interval (SPEC "Never twice,
// never in a loop"), so a wall-clock step neither pairs nor splits them.
struct ServiceObservation {
  SteadyTime at;
  std::vector<Service> services;
};

struct Snapshot {
  bool docker_connected = false;  // the engine answers
  bool synced = false;            // lists applied since the last (re)connect; false = stale
  // false on a worker or with swarm inactive (GET /info says which, `swarm_role`): the
  // runs gate works from containers alone and the converge gate says so.
  bool services_visible = true;
  // From GET /info on every sync. `unknown` (locked/pending/error) closes runs and converge.
  SwarmRole swarm_role = SwarmRole::manager;
  std::string swarm_state = "active";  // LocalNodeState as Docker said it, for the reasons
  // Non-empty on a manager whose last /services failed (503 quorum lost, 5xx, timeout):
  // runs and converge are closed, with this as the why.
  std::string services_error;

  // Containers in any state the model knows (the runs gate looks at live states only).
  std::vector<Container> containers;
  // Set by a live model that counts stacks itself (LiveModel::set_stack_labels): each stack
  // (the first of gates.stack_labels present) and how many live containers carry it,
  // dying ones included. `containers` is then left empty: copying 10 000 containers per
  // decision made the cost of one event grow with the host (issue 9, bench/ingest.cpp).
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
