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
  bool disk_changed = false;      // die/destroy/image delete: re-read the disk soon
  // A container died: ask Docker whether it is restarting (GET /containers/{id}/json)
  // and hand the answer to apply_inspect() with this ticket.
  std::optional<std::string> inspect;
  std::uint64_t inspect_ticket = 0;
};

// A container that died and awaits Docker's word on whether it restarts.
struct InspectRequest {
  std::string id;
  std::uint64_t ticket = 0;
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
  SwarmRole swarm_role() const { return info_ ? swarm_role_of(*info_) : SwarmRole::manager; }
  const std::optional<EngineInfo>& info() const { return info_; }

  // Replaces the containers with a fresh list (the live ones: the runs gate needs those).
  void set_containers(const std::vector<Container>& containers);

  // A re-list while the event stream keeps running (the heal; docs/design.md "List, then
  // watch"). begin_relist() starts recording the container events applied meanwhile and
  // starts the service observation pair over; finish_relist() installs the list and
  // replays the recorded events on it in order, so nothing that happened between the
  // list's request and its answer is lost. Returns the dying containers to inspect.
  // Each begin_relist() returns a ticket; a later begin (or a lost connection) makes an
  // older ticket stale, and finish_relist() with it changes nothing (nullopt).
  std::uint64_t begin_relist();
  std::optional<std::vector<InspectRequest>> finish_relist(std::uint64_t ticket,
                                                           const std::vector<Container>& containers);
  void abort_relist(std::uint64_t ticket);
  bool relisting() const { return relisting_; }

  // Docker's answer for a dying container (nullopt: 404, gone). Ignored when an event for
  // that container arrived after the die the ticket belongs to (the answer may predate it).
  // Returns true when the snapshot changed.
  bool apply_inspect(const std::string& id, std::uint64_t ticket, const std::optional<Container>& inspected);
  bool dying(const std::string& id) const { return dying_.contains(id); }

  // Bumped by every service/node event. A services list requested before a bump may
  // miss a just-created service or still hold a removed one, so it is refused.
  std::uint64_t service_generation() const { return generation_; }
  // Applies one GET /services?status=true observation taken at `at` (monotonic: the pairing
  // spacing is an interval, SPEC "Never twice, never in a loop"; nullopt: 503, services
  // not visible here). Returns false, changing nothing, when a service or node event
  // arrived since the request was sent (`generation_at_request` is stale): poll again.
  bool set_services(const std::optional<std::vector<Service>>& services, SteadyTime at,
                    std::uint64_t generation_at_request);
  // A manager's /services failed (503 quorum lost, 5xx, timeout): services unknown,
  // runs and converge closed with `why`, the observation pair starts over.
  void set_services_error(std::string why);

  EventEffect apply_event(const docker::Event& event);

  void set_disk_path(const std::string& path) { disk_path_ = path; }
  const std::string& disk_path() const { return disk_path_; }
  void set_disk(const std::expected<DiskUsage, std::string>& usage);
  // The latest reading (nullopt: not read yet or unreadable), without a snapshot copy.
  const std::optional<DiskUsage>& disk() const { return disk_; }

  void set_last_prune(TimePoint finished) { last_prune_finished_ = finished; }

  // The label keys that name a container's stack (gates.stack_labels, first present wins).
  // Once set, the model counts live containers per stack as lists and events arrive (dying
  // ones count until Docker says they are gone) and snapshot() hands out those counts
  // instead of a copy of every container: O(stacks) per decision, not O(containers). Each
  // container then keeps only its id and stack (RSS, issue 9).
  // Returns true when the keys differ from those set before: labels already dropped may
  // be needed now, so the containers must be listed again (the daemon reconnects).
  bool set_stack_labels(const std::vector<std::string>& keys);
  // The counts snapshot() hands out (empty without stack labels).
  const std::map<std::string, std::size_t>& stack_counts() const { return stack_counts_; }

  Snapshot snapshot() const;
  std::size_t container_count() const { return stack_labels_ ? stack_by_id_.size() : containers_.size(); }

 private:
  void forget_observations();
  void index_latest();  // latest_service_ids_ from latest_
  void apply_container_event(const docker::Event& e, EventEffect& fx);
  // Stack counts: the stack of some labels (the first stack label present); +1/-1 for one
  // live container's stack; all of them again. known/forget: a live container, either way.
  std::optional<std::string> stack_of(const Labels& labels) const;
  void count(const std::optional<std::string>& stack, int delta);
  void recount();
  bool known(const std::string& id) const;
  bool forget(const std::string& id);

  bool connected_ = false;
  bool synced_ = false;
  std::optional<EngineInfo> info_;
  std::map<std::string, Container> containers_;     // by id; live ones only (no stack labels)
  // With stack labels, instead of containers_: each live container's id and stack (nullopt:
  // none). The snapshot carries counts, so name, image, state and the other labels (~10
  // on a swarm task) went unread: 10 000 containers held ~17.9 MB of RSS after a sync
  // against the goal of 16 MiB (bench/run.py); this keeps ~200 bytes each.
  std::map<std::string, std::optional<std::string>> stack_by_id_;
  // Died, not yet known whether a restart policy brings them back (SPEC): kept live.
  // id -> the ticket of the die; any later event for the id moves it on.
  std::map<std::string, std::uint64_t> dying_;
  std::optional<std::vector<std::string>> stack_labels_;
  std::map<std::string, std::size_t> stack_counts_;  // stack -> live containers (with stack_labels_)
  std::uint64_t container_ticket_ = 0;
  bool relisting_ = false;
  std::uint64_t relist_ticket_ = 0;
  std::vector<docker::Event> during_relist_;  // container events applied while re-listing
  std::string services_error_;

  bool services_visible_ = true;
  std::optional<ServiceObservation> latest_, previous_;
  std::set<std::string> latest_service_ids_;  // ids in latest_: a task event's service, O(log n)
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
