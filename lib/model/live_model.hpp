// The daemon's live model: Docker's lists and /events applied in order, plus the disk
// reading, turned into a Snapshot on demand. Owns the list-then-watch bookkeeping
// (generation counter, stale service observations). Must not do I/O, read the clock,
// log, or decide anything (the gates read the Snapshot).
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>  // before docker/events.hpp, which uses it without including it

#include "disk/usage.hpp"
#include "docker/events.hpp"
#include "model/snapshot.hpp"
#include "model/types.hpp"
#include "util/time.hpp"

namespace cdp {

// What applying one event did, so the manager knows which jobs to poke.
struct EventEffect {
  bool changed = false;           // the snapshot may differ: re-decide
  bool poll_convergence = false;  // service/node/task event: poll /services until converged
  bool disk_changed = false;      // die/destroy/image delete: re-read the disk soon
};

class LiveModel {
 public:
  // Docker reachability. Losing it marks the model stale (not synced) and forgets the
  // service observations: after a reconnect two fresh ones are needed (SPEC).
  void set_connected(bool connected);
  bool connected() const { return connected_; }
  // Lists since the last (re)connect were applied.
  void mark_synced() { synced_ = connected_; }
  bool synced() const { return synced_; }

  void set_info(const EngineInfo& info) { info_ = info; }
  const std::optional<EngineInfo>& info() const { return info_; }

  // Replaces the containers with a fresh list (the live ones: the runs gate needs those).
  void set_containers(const std::vector<Container>& containers);

  // Bumped by every service/node event. A services list requested before a bump may
  // miss a just-created service or still hold a removed one, so it is refused.
  std::uint64_t service_generation() const { return generation_; }
  // Applies one GET /services?status=true observation taken at `at` (nullopt: 503, services
  // not visible here). Returns false, changing nothing, when a service or node event
  // arrived since the request was sent (`generation_at_request` is stale): poll again.
  bool set_services(const std::optional<std::vector<Service>>& services, TimePoint at,
                    std::uint64_t generation_at_request);

  EventEffect apply_event(const docker::Event& event);

  void set_disk_path(const std::string& path) { disk_path_ = path; }
  const std::string& disk_path() const { return disk_path_; }
  void set_disk(const std::expected<DiskUsage, std::string>& usage);

  void set_last_prune(TimePoint finished) { last_prune_finished_ = finished; }

  Snapshot snapshot() const;
  std::size_t container_count() const { return containers_.size(); }

 private:
  void forget_observations();

  bool connected_ = false;
  bool synced_ = false;
  std::optional<EngineInfo> info_;
  std::map<std::string, Container> containers_;     // by id; live ones only

  bool services_visible_ = true;
  std::optional<ServiceObservation> latest_, previous_;
  // A service/node event happened since `latest_` was taken: the next observation must
  // not pair with it (the change may not be visible in it yet).
  bool latest_outdated_ = false;
  std::uint64_t generation_ = 0;

  std::string disk_path_;
  std::optional<DiskUsage> disk_;
  std::string disk_error_ = "disk not read yet";
  std::optional<TimePoint> last_prune_finished_;
};

}  // namespace cdp
