// The live model: lists replace, events patch, snapshot() copies out. Only live
// containers are kept (a destroy drops one; a die only once Docker says it does not
// restart), so memory stays bounded on a busy CI host. Must not do I/O, read the clock,
// log or decide.
#include "model/live_model.hpp"

#include <algorithm>

namespace cdp {

namespace {
constexpr const char* kTaskServiceLabel = "com.docker.swarm.service.id";

// "exec_start: sh -c ..." and "health_status: healthy" carry arguments after a colon.
std::string_view verb_of(std::string_view action) {
  if (auto colon = action.find(':'); colon != std::string_view::npos) return action.substr(0, colon);
  return action;
}

std::string attribute(const Labels& a, const char* key) {
  auto it = a.find(key);
  return it == a.end() ? std::string() : it->second;
}
}  // namespace

void LiveModel::set_connected(bool connected) {
  connected_ = connected;
  if (!connected) {
    synced_ = false;
    forget_observations();
    abort_relist(relist_ticket_);
    ++relist_ticket_;  // a list still in flight belongs to the lost connection
  }
}

void LiveModel::forget_observations() {
  previous_.reset();
  latest_outdated_ = true;
  ++generation_;
}

void LiveModel::index_latest() {
  latest_service_ids_.clear();
  if (latest_)
    for (const auto& s : latest_->services) latest_service_ids_.insert(s.id);
}

void LiveModel::set_containers(const std::vector<Container>& containers) {
  containers_.clear();
  stack_by_id_.clear();
  dying_.clear();  // the list says what each one is now
  for (const auto& c : containers) {
    if (!is_live_container_state(c.state)) continue;
    if (stack_labels_) stack_by_id_[c.id] = stack_of(c.labels);
    else containers_[c.id] = c;
  }
  recount();
}

bool LiveModel::set_stack_labels(const std::vector<std::string>& keys) {
  const bool changed = stack_labels_ && *stack_labels_ != keys;
  const bool was_counting = stack_labels_.has_value();
  stack_labels_ = keys;
  if (!was_counting) {
    for (const auto& [id, c] : containers_) stack_by_id_[id] = stack_of(c.labels);
    containers_.clear();
  }
  recount();
  return changed;
}

std::optional<std::string> LiveModel::stack_of(const Labels& labels) const {
  // The first of the keys present, as gates.cpp stack_of reads it.
  for (const auto& key : *stack_labels_)
    if (auto it = labels.find(key); it != labels.end()) return it->second;
  return std::nullopt;
}

void LiveModel::count(const std::optional<std::string>& stack, int delta) {
  if (!stack) return;
  if (delta > 0) {
    ++stack_counts_[*stack];
  } else if (auto n = stack_counts_.find(*stack); n != stack_counts_.end() && --n->second == 0) {
    stack_counts_.erase(n);
  }
}

void LiveModel::recount() {
  stack_counts_.clear();
  for (const auto& [id, stack] : stack_by_id_) count(stack, +1);
}

bool LiveModel::known(const std::string& id) const {
  return stack_labels_ ? stack_by_id_.contains(id) : containers_.contains(id);
}

bool LiveModel::forget(const std::string& id) {
  if (!stack_labels_) return containers_.erase(id) > 0;
  auto it = stack_by_id_.find(id);
  if (it == stack_by_id_.end()) return false;
  count(it->second, -1);
  stack_by_id_.erase(it);
  return true;
}

std::uint64_t LiveModel::begin_relist() {
  relisting_ = true;
  during_relist_.clear();
  // SPEC "Heal with no blind window": the convergence observation pair starts over.
  forget_observations();
  return ++relist_ticket_;
}

std::optional<std::vector<InspectRequest>> LiveModel::finish_relist(std::uint64_t ticket,
                                                                    const std::vector<Container>& containers) {
  if (!relisting_ || ticket != relist_ticket_) return std::nullopt;
  set_containers(containers);
  relisting_ = false;
  // Each event arrived after the list was requested. Replayed in order, the last event
  // for a container decides its state, whether the list saw it before or after.
  std::vector<docker::Event> replay;
  replay.swap(during_relist_);
  std::map<std::string, std::uint64_t> inspect;
  for (const auto& e : replay) {
    EventEffect fx;
    apply_container_event(e, fx);
    if (fx.inspect) inspect[*fx.inspect] = fx.inspect_ticket;
  }
  std::vector<InspectRequest> out;
  for (const auto& [id, ticket] : inspect)
    if (auto it = dying_.find(id); it != dying_.end() && it->second == ticket) out.push_back({id, ticket});
  return out;
}

void LiveModel::abort_relist(std::uint64_t ticket) {
  if (ticket != relist_ticket_) return;
  relisting_ = false;
  during_relist_.clear();
}

bool LiveModel::apply_inspect(const std::string& id, std::uint64_t ticket, const std::optional<Container>& inspected) {
  auto it = dying_.find(id);
  if (it == dying_.end() || it->second != ticket) return false;  // a later event decided
  dying_.erase(it);
  if (!inspected || !is_live_container_state(inspected->state)) return forget(id);
  // Restarting: still live. Counted, nothing changes; otherwise its state does.
  if (stack_labels_) return false;
  auto c = containers_.find(id);
  if (c == containers_.end()) return false;
  const bool changed = c->second.state != inspected->state;
  c->second.state = inspected->state;  // "restarting": the restart policy brings it back
  return changed;
}

void LiveModel::set_services_error(std::string why) {
  services_error_ = std::move(why);
  services_visible_ = true;
  latest_.reset();
  previous_.reset();
  latest_outdated_ = false;
  index_latest();
}

bool LiveModel::set_services(const std::optional<std::vector<Service>>& services, SteadyTime at,
                             std::uint64_t generation_at_request) {
  if (generation_at_request != generation_) return false;
  services_error_.clear();
  if (!services) {
    services_visible_ = false;
    latest_.reset();
    previous_.reset();
    latest_outdated_ = false;
    index_latest();
    return true;
  }
  services_visible_ = true;
  // Two observations pair only when nothing happened between them and they are at least
  // a second apart on the monotonic clock (SPEC); otherwise start over rather than pair
  // across a gap we skipped.
  if (latest_ && !latest_outdated_ && at - latest_->at >= std::chrono::seconds(1))
    previous_ = std::move(latest_);
  else
    previous_.reset();
  latest_ = ServiceObservation{at, *services};
  latest_outdated_ = false;
  index_latest();
  return true;
}

void LiveModel::apply_container_event(const docker::Event& e, EventEffect& fx) {
  const std::string_view verb = verb_of(e.action);
  std::optional<std::string> state;
  if (verb == "create") state = "created";
  else if (verb == "start" || verb == "restart" || verb == "unpause") state = "running";
  else if (verb == "pause") state = "paused";
  if (state) {
    dying_.erase(e.actor_id);
    if (stack_labels_) {
      // Its labels may differ from the list's or an earlier event's: count it again.
      auto [it, added] = stack_by_id_.try_emplace(e.actor_id);
      if (!added) count(it->second, -1);
      it->second = stack_of(e.attributes);
      count(it->second, +1);
    } else {
      Container& c = containers_[e.actor_id];
      c.id = e.actor_id;
      c.state = *state;
      // Container events carry every container label among the attributes (FACTS);
      // the few non-label keys (name, image, exitCode) are harmless beside them.
      c.labels = e.attributes;
      c.name = attribute(e.attributes, "name");
      c.image = attribute(e.attributes, "image");
    }
    fx.changed = true;
    // create makes the writable layer; start writes logs and the container's files.
    fx.disk_changed = verb == "create" || verb == "start";
  } else if (verb == "die") {
    // SPEC: live until Docker says it is not restarting. moby decides the restart before
    // it emits `die` (daemon/monitor.go handleContainerExit: SetRestarting, then the
    // event), so one inspect after the die answers it.
    fx.disk_changed = true;  // a container's writable layer or logs may be gone
    if (known(e.actor_id)) {
      const std::uint64_t ticket = ++container_ticket_;
      dying_[e.actor_id] = ticket;
      fx.inspect = e.actor_id;
      fx.inspect_ticket = ticket;
    }
  } else if (verb == "destroy") {
    dying_.erase(e.actor_id);
    fx.changed = forget(e.actor_id);
    fx.disk_changed = true;
  } else if (verb == "rename") {
    if (auto it = containers_.find(e.actor_id); it != containers_.end())
      it->second.name = attribute(e.attributes, "name");
  }
}

EventEffect LiveModel::apply_event(const docker::Event& e) {
  EventEffect fx;
  const std::string_view verb = verb_of(e.action);
  if (e.type == "container") {
    if (e.actor_id.empty()) return fx;
    if (relisting_) during_relist_.push_back(e);
    apply_container_event(e, fx);
    const std::string service_id = attribute(e.attributes, kTaskServiceLabel);
    if (!service_id.empty() && (verb == "create" || verb == "start" || verb == "die")) {
      // No event exists for task convergence (FACTS): a task container coming or going is
      // the only sign a service is moving. A task of a service that is no longer listed
      // (removed) cannot make anything unconverged.
      fx.poll_convergence = true;
      const bool known = latest_service_ids_.count(service_id) > 0;  // O(log services)
      if (known) {
        forget_observations();
        fx.changed = true;
      }
    }
  } else if (e.type == "service") {
    ++generation_;
    fx.changed = true;
    fx.poll_convergence = verb != "remove";
    if (verb == "remove") {
      // A removal changes nothing about the other services' convergence, so the pair of
      // observations stays valid without it: the gate can open at once (prune latency).
      auto drop = [&](std::optional<ServiceObservation>& o) {
        if (!o) return;
        std::erase_if(o->services, [&](const Service& s) { return s.id == e.actor_id; });
      };
      drop(latest_);
      drop(previous_);
      latest_service_ids_.erase(e.actor_id);
    } else {
      // create/update: the change may not show in the next list yet, and service events
      // carry no labels (FACTS); the poller re-lists and needs two fresh observations.
      forget_observations();
    }
  } else if (e.type == "node") {
    // A node going down or drained moves tasks without any service event.
    forget_observations();
    fx.changed = true;
    fx.poll_convergence = true;
  } else if (e.type == "image") {
    fx.disk_changed = verb == "delete" || verb == "untag" || verb == "prune" || verb == "pull" ||
                      verb == "load" || verb == "import" || verb == "tag";
  } else if (e.type == "builder" || e.type == "volume") {
    // Build cache and volumes hold data on the same filesystem (volume create/remove,
    // builder prune); BuildKit builds emit no event of their own, their steps' containers do.
    fx.disk_changed = true;
  }
  return fx;
}

void LiveModel::set_disk(const std::expected<DiskUsage, std::string>& usage) {
  if (usage) {
    disk_ = *usage;
    disk_error_.clear();
  } else {
    disk_.reset();
    disk_error_ = usage.error();
  }
}

Snapshot LiveModel::snapshot() const {
  Snapshot s;
  s.docker_connected = connected_;
  s.synced = synced_;
  s.services_visible = services_visible_;
  if (info_) {
    s.swarm_role = swarm_role_of(*info_);
    s.swarm_state = info_->swarm_local_node_state;
  }
  s.services_error = services_error_;
  if (stack_labels_) {
    s.live_container_stacks = stack_counts_;
  } else {
    s.containers.reserve(containers_.size());
    for (const auto& [id, c] : containers_) s.containers.push_back(c);
  }
  if (services_visible_) {
    s.services_latest = latest_;
    s.services_previous = previous_;
  }
  s.disk = disk_;
  s.disk_error = disk_error_;
  s.disk_path = disk_path_;
  s.last_prune_finished = last_prune_finished_;
  return s;
}

}  // namespace cdp
