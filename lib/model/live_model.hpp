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
#include <set>
#include <vector>

#include "disk/usage.hpp"
#include "model/event.hpp"
#include "model/snapshot.hpp"
#include "model/types.hpp"
#include "util/time.hpp"

namespace cdp {

// What applying one event did, so the manager knows which jobs to poke.
struct EventEffect {
  bool changed = false;           // the snapshot may differ: re-decide
  bool poll_convergence = false;  // service/node/task event: poll /services until converged
  // Re-read the disk soon: what frees space (die/destroy, image delete/untag/prune) and
  // what writes it (pull, load, import, tag, build, container create/start), issue 9.
  bool disk_changed = false;
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
  // The latest reading (nullopt: not read yet or unreadable), without a snapshot copy.
  const std::optional<DiskUsage>& disk() const { return disk_; }

  void set_last_prune(TimePoint finished) { last_prune_finished_ = finished; }

  // The label keys that name a container's stack (gates.stack_labels), first present wins.
  // Once set, the model counts live containers per stack as events arrive and snapshot()
  // hands out those counts instead of a copy of every container (O(stacks), not O(n)).
  void set_stack_labels(std::vector<std::string> keys);

  Snapshot snapshot() const;
  std::size_t container_count() const { return containers_.size(); }

 private:
  void forget_observations();
  std::optional<std::string> stack_of(const Container& c) const;
  void count(const Container& c, int delta);
  void recount();
  void trim(Labels& labels) const;
  void index_latest();

  bool connected_ = false;
  bool synced_ = false;
  std::optional<EngineInfo> info_;
  std::map<std::string, Container> containers_;     // by id; live ones only
  std::optional<std::vector<std::string>> stack_labels_;
  std::map<std::string, std::size_t> stack_counts_;  // stack -> live containers (with stack_labels_)
  std::set<std::string> latest_service_ids_;         // ids in latest_, for task events

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
