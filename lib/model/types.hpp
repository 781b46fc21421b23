// Plain model types mapped from Docker's JSON (lib/docker/mapping.*): what the gates
// need and nothing else. No behaviour beyond trivial helpers; no I/O.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/time.hpp"

namespace cdp {

using Labels = std::map<std::string, std::string>;

enum class ServiceMode { replicated, global, replicated_job, global_job };

struct Service {
  std::string id;
  std::string name;
  Labels labels;                    // Spec.Labels (the stack namespace lives here)
  ServiceMode mode = ServiceMode::replicated;
  std::optional<std::string> update_state;  // UpdateStatus.State; nullopt when UpdateStatus is null
  std::optional<TimePoint> updated_at;      // UpdatedAt (last spec change)
  // ServiceStatus (GET /services?status=true); nullopt when the engine did not report it.
  struct Status {
    std::uint64_t running = 0;
    std::uint64_t desired = 0;
    std::uint64_t completed = 0;
  };
  std::optional<Status> status;
  std::optional<std::uint64_t> total_completions;  // jobs: Mode.ReplicatedJob.TotalCompletions
};

struct Container {
  std::string id;
  std::string name;   // first of Names, without the leading '/'
  std::string image;  // Image (as the engine reports it)
  std::string state;  // created running restarting paused removing exited dead
  Labels labels;
  std::optional<TimePoint> created;
};

// The container states the runs gate counts as live (SPEC "The gates"), and the status
// filter of every live-containers list: one definition (it used to be copied into the
// gates, the fresh sync and the Docker watch).
inline const std::vector<std::string> kLiveContainerStates{"created", "running", "restarting", "paused",
                                                           "removing"};
// True when `state` is one of kLiveContainerStates.
bool is_live_container_state(std::string_view state);

struct EngineInfo {
  std::string docker_root_dir;          // GET /info DockerRootDir
  std::string swarm_local_node_state;   // "active", "inactive", "pending", ...
  bool swarm_control_available = false; // a manager: /services works
  std::string server_version;
};

// The node's swarm role as GET /info tells it (SPEC "The gates", swarm role). A 503 from
// /services alone never decides it: a locked or quorum-less manager answers 503 too
// (FACTS "Faults seen on a real engine").
enum class SwarmRole {
  inactive,  // LocalNodeState "inactive": no services exist here
  worker,    // "active", ControlAvailable false: the cluster's services are not visible
  manager,   // "active", ControlAvailable true: /services must answer
  unknown,   // "locked", "pending", "error" or anything new: the swarm's state is unknown
};
inline SwarmRole swarm_role_of(const EngineInfo& info) {
  const auto& s = info.swarm_local_node_state;
  if (s == "inactive" || s.empty()) return SwarmRole::inactive;
  if (s == "active") return info.swarm_control_available ? SwarmRole::manager : SwarmRole::worker;
  return SwarmRole::unknown;
}

// A prune candidate as `plan` lists it.
struct Candidate {
  std::string id;
  std::string description;  // container name / image id / cache description
  std::uint64_t size = 0;
  std::optional<TimePoint> created_or_last_used;
};

}  // namespace cdp
