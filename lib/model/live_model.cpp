// The live model: lists replace, events patch, snapshot() copies out. Only live
// containers are kept (a die or destroy drops one), so memory stays bounded on a busy
// CI host. Must not do I/O, read the clock, log or decide.
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
  }
}

void LiveModel::forget_observations() {
  previous_.reset();
  latest_outdated_ = true;
  ++generation_;
}

void LiveModel::set_containers(const std::vector<Container>& containers) {
  containers_.clear();
  for (const auto& c : containers) {
    if (!is_live_container_state(c.state)) continue;
    Container& kept = containers_[c.id] = c;
    trim(kept.labels);
  }
  recount();
}

void LiveModel::trim(Labels& labels) const {
  // With stack counts, a container's other labels are never read again (the snapshot
  // carries counts, not containers): keeping them cost ~3 KiB per container, 40 MiB at
  // 10 000 (bench/ingest.cpp). The service id stays for task events.
  if (!stack_labels_) return;
  std::erase_if(labels, [&](const auto& kv) {
    return kv.first != kTaskServiceLabel &&
           std::find(stack_labels_->begin(), stack_labels_->end(), kv.first) == stack_labels_->end();
  });
}

void LiveModel::set_stack_labels(std::vector<std::string> keys) {
  stack_labels_ = std::move(keys);
  recount();
}

std::optional<std::string> LiveModel::stack_of(const Container& c) const {
  if (!stack_labels_) return std::nullopt;
  for (const auto& key : *stack_labels_)
    if (auto it = c.labels.find(key); it != c.labels.end()) return it->second;
  return std::nullopt;
}

void LiveModel::count(const Container& c, int delta) {
  auto stack = stack_of(c);
  if (!stack) return;
  auto& n = stack_counts_[*stack];
  if (delta > 0) {
    ++n;
  } else if (n <= 1) {
    stack_counts_.erase(*stack);
  } else {
    --n;
  }
}

void LiveModel::recount() {
  stack_counts_.clear();
  for (auto& [id, c] : containers_) {
    trim(c.labels);
    count(c, +1);
  }
}

void LiveModel::index_latest() {
  latest_service_ids_.clear();
  if (latest_)
    for (const auto& s : latest_->services) latest_service_ids_.insert(s.id);
}

bool LiveModel::set_services(const std::optional<std::vector<Service>>& services, TimePoint at,
                             std::uint64_t generation_at_request) {
  if (generation_at_request != generation_) return false;
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
  // a second apart (SPEC); otherwise start over rather than pair across a gap we skipped.
  if (latest_ && !latest_outdated_ && at - latest_->at >= std::chrono::seconds(1))
    previous_ = std::move(latest_);
  else
    previous_.reset();
  latest_ = ServiceObservation{at, *services};
  latest_outdated_ = false;
  index_latest();
  return true;
}

EventEffect LiveModel::apply_event(const docker::Event& e) {
  EventEffect fx;
  const std::string_view verb = verb_of(e.action);
  if (e.type == "container") {
    if (e.actor_id.empty()) return fx;
    std::optional<std::string> state;
    if (verb == "create") state = "created";
    else if (verb == "start" || verb == "restart" || verb == "unpause") state = "running";
    else if (verb == "pause") state = "paused";
    if (state) {
      Container& c = containers_[e.actor_id];
      if (!c.id.empty()) count(c, -1);  // known already: its labels may change below
      c.id = e.actor_id;
      c.state = *state;
      // Container events carry every container label among the attributes (FACTS);
      // the few non-label keys (name, image, exitCode) are harmless beside them.
      c.labels = e.attributes;
      trim(c.labels);
      c.name = attribute(e.attributes, "name");
      c.image = attribute(e.attributes, "image");
      count(c, +1);
      fx.changed = true;
      // create makes the writable layer; start writes logs and the container's files.
      fx.disk_changed = verb == "create" || verb == "start";
    } else if (verb == "die" || verb == "destroy") {
      if (auto it = containers_.find(e.actor_id); it != containers_.end()) {
        count(it->second, -1);
        containers_.erase(it);
        fx.changed = true;
      }
      fx.disk_changed = true;  // a container's writable layer or logs may be gone
    } else if (verb == "rename") {
      if (auto it = containers_.find(e.actor_id); it != containers_.end())
        it->second.name = attribute(e.attributes, "name");
    }
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
