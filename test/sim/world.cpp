// The fake Docker host's behaviour: CI runs deployed as swarm stacks or compose projects,
// tasks converging, crashing and restarting, updates (some paused), services pending
// forever, CI jobs filling the disk, and the engine's faults (restarts, a locked swarm,
// quorum loss, a refusing socket, other prunes running: 409). Every choice from the Rng.
#include "world.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace sim {

namespace {
constexpr const char* kStackNs = "com.docker.stack.namespace";
constexpr const char* kCompose = "com.docker.compose.project";
constexpr const char* kTaskService = "com.docker.swarm.service.id";
constexpr std::uint64_t kMiB = 1ull << 20;

// SPEC "The gates": the live states. Written out here, not taken from the code under test.
bool live_state(const std::string& s) {
  return s == "created" || s == "running" || s == "restarting" || s == "paused" || s == "removing";
}
bool update_settled(const std::optional<std::string>& u) {
  return !u || *u == "completed" || *u == "rollback_completed";
}
}  // namespace

World::World(Rng& rng, Schedule schedule, std::function<Ms()> now, std::function<cdp::TimePoint()> wall, Role r,
             bool faults)
    : role(r), swarm_faults(faults), rng_(rng), at_(std::move(schedule)), now_(std::move(now)), wall_(std::move(wall)) {}

std::string World::new_id() { return fmt::format("{:012x}", ++ids_ * 0x9e3779b97f4aull % 0xffffffffffffull); }

void World::emit(const std::string& type, const std::string& action, const std::string& id, cdp::Labels attrs) {
  cdp::docker::Event e;
  e.type = type;
  e.action = action;
  e.actor_id = id;
  e.attributes = std::move(attrs);
  e.time_nano = std::chrono::duration_cast<std::chrono::nanoseconds>(wall_().time_since_epoch()).count();
  outbox_.push_back(std::move(e));
  ++generation;
}

void World::emit_container(const WContainer& c, const std::string& action) {
  // Container events carry every label among the attributes, plus name and image.
  cdp::Labels a = c.labels;
  a["name"] = c.name;
  a["image"] = c.image;
  emit("container", action, c.id, std::move(a));
}

std::vector<cdp::docker::Event> World::drain_events() {
  std::vector<cdp::docker::Event> out;
  out.swap(outbox_);
  return out;
}

WContainer& World::add_container(const std::string& name, const std::string& stack, const std::string& label_key,
                                 const std::string& service_id, bool restart_always) {
  WContainer c;
  c.id = new_id();
  c.name = name;
  c.image = fmt::format("registry.example/ci/{}:latest", stack.empty() ? "job" : "app");
  if (!stack.empty()) c.labels[label_key] = stack;
  if (!service_id.empty()) c.labels[kTaskService] = service_id;
  c.state = "created";
  c.restart_always = restart_always;
  c.service_id = service_id;
  c.stack = stack;
  c.created = now_();
  auto& ref = containers_[c.id] = std::move(c);
  emit_container(ref, "create");
  return ref;
}

void World::set_state(WContainer& c, const std::string& state, const std::string& action) {
  c.state = state;
  if (!action.empty()) emit_container(c, action);
}

void World::destroy(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  emit_container(it->second, "destroy");
  containers_.erase(it);
}

void World::disk_write(std::uint64_t bytes, int kind) {
  const std::uint64_t room = disk_.total - disk_.used;
  bytes = std::min(bytes, room > (512 * kMiB) ? room - 512 * kMiB : 0);
  disk_.used += bytes;
  if (kind >= 0) disk_.prunable[kind] += bytes;
  ++generation;
}

// ---------------------------------------------------------------- answers

cdp::EngineInfo World::info() const {
  cdp::EngineInfo i;
  i.docker_root_dir = "/var/lib/docker";
  i.server_version = "20.10.24";
  switch (role) {
    case Role::inactive: i.swarm_local_node_state = "inactive"; break;
    case Role::worker: i.swarm_local_node_state = "active"; break;
    case Role::manager:
      // A locked manager cannot serve the control API (FACTS "Locked swarm"); a manager
      // without quorum still says active + ControlAvailable, and /services answers 503.
      i.swarm_local_node_state = locked ? "locked" : "active";
      i.swarm_control_available = !locked;
      break;
  }
  return i;
}

std::uint64_t World::running_tasks(const std::string& sid) const {
  std::uint64_t n = 0;
  for (const auto& [id, c] : containers_)
    if (c.service_id == sid && c.state == "running") ++n;
  return n;
}

std::optional<std::vector<cdp::Service>> World::services() const {
  if (role != Role::manager || locked || quorum_lost) return std::nullopt;
  std::vector<cdp::Service> out;
  for (const auto& [id, s] : services_) {
    cdp::Service v;
    v.id = s.id;
    v.name = s.name;
    v.labels[kStackNs] = s.stack;
    v.update_state = s.update_state;
    v.updated_at = s.updated_at;
    v.status = cdp::Service::Status{running_tasks(s.id), s.desired, 0};
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<cdp::Container> World::live_containers() const {
  std::vector<cdp::Container> out;
  for (const auto& [id, c] : containers_) {
    if (!live_state(c.state)) continue;
    cdp::Container v;
    v.id = c.id;
    v.name = c.name;
    v.image = c.image;
    v.state = c.state;
    v.labels = c.labels;
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<cdp::Container> World::inspect(const std::string& id) const {
  auto it = containers_.find(id);
  if (it == containers_.end()) return std::nullopt;
  const WContainer& c = it->second;
  return cdp::Container{c.id, c.name, c.image, c.state, c.labels, std::nullopt};
}

cdp::DiskUsage World::disk_usage() const {
  cdp::DiskUsage d;
  d.path = "/var/lib/docker";
  d.used_bytes = disk_.used;
  d.avail_bytes = disk_.total - disk_.used;
  d.used_inodes = 100000;
  d.avail_inodes = 900000;
  return d;
}

double World::disk_percent() const { return 100.0 * static_cast<double>(disk_.used) / static_cast<double>(disk_.total); }

// ---------------------------------------------------------------- truth

bool World::converged(const WService& s) const {
  return update_settled(s.update_state) && !s.pending_forever && running_tasks(s.id) == s.desired;
}

void World::refresh(cdp::TimePoint wall, cdp::Duration stuck_after) {
  std::map<std::string, std::uint64_t> runs, unconv;
  auto mark = [](std::map<std::string, std::uint64_t>& now, const std::map<std::string, std::uint64_t>& before,
                 std::map<std::string, std::uint64_t>& episodes, const std::string& key) {
    if (now.count(key)) return;
    // Still live since the last refresh: the same episode; else a new one.
    now[key] = before.count(key) ? before.at(key) : ++episodes[key];
  };
  // Services exist on a manager whatever its state (locked, no quorum): a run stack with
  // services is live (SPEC: "no swarm service ... whose stack label matches").
  if (role == Role::manager)
    for (const auto& [id, s] : services_)
      if (s.run) mark(runs, live_runs_, run_episode_, s.stack);
  for (const auto& [id, c] : containers_)
    if (!c.stack.empty() && run_names_.count(c.stack) && live_state(c.state)) mark(runs, live_runs_, run_episode_, c.stack);
  for (const auto& [id, s] : services_) {
    if (converged(s)) continue;
    if (s.update_state == "paused" || s.update_state == "rollback_paused") continue;  // stuck
    if (stuck_after > cdp::Duration::zero() && wall - s.updated_at > stuck_after) continue;  // stuck
    mark(unconv, unconverged_, conv_episode_, s.id);
  }
  live_runs_.swap(runs);
  unconverged_.swap(unconv);
}

bool World::all_converged_strict() const {
  return std::all_of(services_.begin(), services_.end(), [&](const auto& kv) { return converged(kv.second); });
}

bool World::prune_running() const {
  return std::any_of(std::begin(pruning_), std::end(pruning_), [](const auto& p) { return p.has_value(); });
}

std::string World::service_name(const std::string& id) const {
  auto it = services_.find(id);
  return it == services_.end() ? id : it->second.name;
}

std::string World::summary() const {
  std::string runs, unconv;
  for (const auto& [k, e] : live_runs_) runs += (runs.empty() ? "" : ",") + k.substr(0, 11);
  for (const auto& [k, e] : unconverged_) {
    auto it = services_.find(k);
    unconv += (unconv.empty() ? "" : ",") + (it == services_.end() ? k : it->second.name);
  }
  int live = 0;
  for (const auto& [id, c] : containers_) live += live_state(c.state);
  return fmt::format("disk={:.1f}% runs=[{}] unconv=[{}] svc={} ctr={}/{} dockerd={}{}{}{}{}", disk_percent(), runs,
                     unconv, services_.size(), live, containers_.size(), dockerd_up ? "up" : "DOWN",
                     unreachable ? " UNREACHABLE" : "", locked ? " LOCKED" : "", quorum_lost ? " NOQUORUM" : "",
                     prune_running() ? " pruning" : "");
}

// ---------------------------------------------------------------- behaviour

void World::start() {
  disk_.used = disk_.total / 100 * static_cast<std::uint64_t>(rng_.range(55, 95));
  for (auto& p : disk_.prunable)
    p = rng_.chance(0.2) ? 0 : static_cast<std::uint64_t>(rng_.range(0, 6000)) * kMiB;
  std::uint64_t sum = disk_.prunable[0] + disk_.prunable[1] + disk_.prunable[2];
  if (sum > disk_.used) disk_.used = sum;
  if (role == Role::manager) {
    const int n = static_cast<int>(rng_.range(0, 3));
    for (int i = 0; i < n; ++i) {
      WService s;
      s.id = new_id();
      s.stack = "infra";
      s.name = fmt::format("infra_svc{}", i);
      s.desired = static_cast<std::uint64_t>(rng_.range(1, 2));
      s.updated_at = wall_() - std::chrono::hours(rng_.range(1, 48));
      services_[s.id] = s;
      for (std::uint64_t k = 0; k < s.desired; ++k)
        add_container(fmt::format("{}.{}", s.name, k + 1), s.stack, kStackNs, s.id, false).state = "running";
    }
  }
  if (rng_.chance(0.5)) add_container("registry", "", "", "", true).state = "running";
  outbox_.clear();  // history before the daemon's first list
  at_(now_() + rng_.range(0, 5 * kSec), [this] { activity(); });
  at_(now_() + rng_.range(10 * kSec, 10 * kMin), [this] { fault(); });
}

void World::activity() {
  // Busy stretches (a CI burst) and quiet ones (the nightly lull), so both the blocked
  // and the idle-over-threshold paths are walked.
  static constexpr Ms kQuietMax = 25 * kMin;
  const int roll = static_cast<int>(rng_.range(0, 99));
  if (roll < 20) deploy_run();
  else if (roll < 45) ci_job();
  else if (roll < 55) crash_container();
  else if (roll < 63 && role == Role::manager && !locked && !quorum_lost && !services_.empty()) {
    std::vector<std::string> ids;
    for (const auto& [id, s] : services_)
      if (!s.run && !s.pending_forever) ids.push_back(id);
    if (!ids.empty()) update_service(rng_.pick(ids));
  } else if (roll < 66 && role == Role::manager && !locked && !quorum_lost) {
    WService s;  // unsatisfiable constraint: pending forever, no event after create (FACTS)
    s.id = new_id();
    s.stack = "infra";
    s.name = fmt::format("infra_pending{}", ids_);
    s.pending_forever = true;
    s.updated_at = wall_();
    services_[s.id] = s;
    emit("service", "create", s.id, {{"name", s.name}});
    last_action = "service " + s.name + " created, pending forever";
    const std::string id = s.id;
    at_(now_() + rng_.range(30 * kSec, 50 * kMin), [this, id] {
      if (locked || quorum_lost || !services_.count(id)) return;
      emit("service", "remove", id, {{"name", services_[id].name}});
      services_.erase(id);
      last_action = "pending service removed";
    });
  } else if (roll < 80) {
    // Somebody frees space outside Docker's prunable objects (a log rotation, rm -rf).
    const std::uint64_t freed = std::min<std::uint64_t>(disk_.used / 4, rng_.range(100, 6000) * kMiB);
    disk_.used -= std::min(freed, disk_.used - std::min(disk_.used, disk_.prunable[0] + disk_.prunable[1] + disk_.prunable[2]));
    ++generation;
    last_action = "disk freed outside docker";
  } else {
    disk_write(static_cast<std::uint64_t>(rng_.range(100, 4000)) * kMiB, rng_.chance(0.5) ? static_cast<int>(rng_.range(0, 2)) : -1);
    last_action = "disk written";
  }
  const Ms next = rng_.chance(0.04) ? rng_.range(kMin, kQuietMax) : rng_.range(200, 8 * kSec);
  at_(now_() + next, [this] { activity(); });
}

void World::deploy_run() {
  if (stacks_.size() >= 3) return;
  static const char* kHex = "0123456789abcdef";
  std::string stack;
  for (int i = 0, n = static_cast<int>(rng_.range(1, 4)); i < n; ++i) stack += "abcdefghijklmnopqrstuvwxyz0123456789"[rng_.next() % 36];
  stack += '-';
  for (int i = 0; i < 6; ++i) stack += kHex[rng_.next() % 16];
  stack += "_ci_commoninternet_net";
  stacks_.insert(stack);
  run_names_.insert(stack);
  const bool swarm = role == Role::manager && !locked && !quorum_lost && rng_.chance(0.6);
  if (swarm) {
    for (int i = 0, n = static_cast<int>(rng_.range(1, 3)); i < n; ++i) {
      WService s;
      s.id = new_id();
      s.stack = stack;
      s.run = true;
      s.name = fmt::format("{}_app{}", stack, i);
      s.desired = static_cast<std::uint64_t>(rng_.range(1, 2));
      s.updated_at = wall_();
      services_[s.id] = s;
      // Service events carry only the name: no labels (FACTS).
      emit("service", "create", s.id, {{"name", s.name}});
      reconcile(s.id);
    }
  } else {
    for (int i = 0, n = static_cast<int>(rng_.range(1, 4)); i < n; ++i) {
      WContainer& c = add_container(fmt::format("{}-app{}-1", stack, i), stack, kCompose, "", rng_.chance(0.3));
      const std::string id = c.id;
      // `docker compose up` creates, then starts (a created container is live).
      at_(now_() + rng_.range(50, 5 * kSec), [this, id] {
        auto it = containers_.find(id);
        if (it != containers_.end() && it->second.state == "created" && dockerd_up) set_state(it->second, "running", "start");
      });
    }
  }
  last_action = fmt::format("run {} deployed ({})", stack.substr(0, 11), swarm ? "swarm" : "compose");
  at_(now_() + rng_.range(3 * kSec, 12 * kMin), [this, stack] { remove_stack(stack); });
}

void World::remove_stack(const std::string& stack) {
  if (locked || quorum_lost || !dockerd_up) {  // nobody can remove services now: later
    at_(now_() + rng_.range(5 * kSec, 2 * kMin), [this, stack] { remove_stack(stack); });
    return;
  }
  std::vector<std::string> gone;
  for (auto it = services_.begin(); it != services_.end();) {
    if (it->second.stack == stack) {
      emit("service", "remove", it->first, {{"name", it->second.name}});
      gone.push_back(it->first);
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string> ids;
  for (auto& [id, c] : containers_)
    if (c.stack == stack) ids.push_back(id);
  for (const auto& id : ids) {
    WContainer& c = containers_[id];
    if (live_state(c.state)) set_state(c, "exited", "die");
    disk_.prunable[0] += 20 * kMiB;
    // Task containers go with their service; compose down removes its containers. Some
    // linger exited (kept by the CI for logs): still not live.
    if (rng_.chance(0.7)) at_(now_() + rng_.range(0, 3 * kSec), [this, id] { destroy(id); });
  }
  stacks_.erase(stack);
  last_action = fmt::format("run {} removed", stack.substr(0, 11));
}

void World::reconcile(const std::string& sid) {
  auto it = services_.find(sid);
  if (it == services_.end() || it->second.pending_forever) return;
  std::uint64_t have = 0;
  for (const auto& [id, c] : containers_)
    if (c.service_id == sid && (c.state == "running" || c.state == "created")) ++have;
  for (; have < it->second.desired; ++have) start_task(sid, rng_.range(100, 4 * kSec));
}

void World::start_task(const std::string& sid, Ms delay) {
  at_(now_() + delay, [this, sid] {
    auto it = services_.find(sid);
    if (it == services_.end() || !dockerd_up || locked || quorum_lost) return;
    std::uint64_t have = 0;
    for (const auto& [id, c] : containers_)
      if (c.service_id == sid && (c.state == "running" || c.state == "created")) ++have;
    if (have >= it->second.desired) return;
    WContainer& c = add_container(fmt::format("{}.{}", it->second.name, ids_), it->second.stack, kStackNs, sid, false);
    const std::string id = c.id;
    at_(now_() + rng_.range(100, 3 * kSec), [this, id, sid] {
      auto ct = containers_.find(id);
      if (ct == containers_.end() || ct->second.state != "created" || !dockerd_up) return;
      if (!services_.count(sid)) return destroy(id);
      set_state(ct->second, "running", "start");
    });
  });
}

void World::wake_reconcile_all(Ms delay) {
  std::vector<std::string> ids;
  for (const auto& [id, s] : services_) ids.push_back(id);
  for (const auto& id : ids) at_(now_() + rng_.range(0, delay), [this, id] { reconcile(id); });
}

void World::update_service(const std::string& sid) {
  WService& s = services_[sid];
  if (s.update_state == "updating" || s.update_state == "paused") return;
  const bool scale = rng_.chance(0.3);
  s.updated_at = wall_();
  if (scale) {
    s.desired = s.desired == 1 ? 2 : static_cast<std::uint64_t>(rng_.range(0, 3));
    emit("service", "update", sid, {{"name", s.name}, {"replicas.new", std::to_string(s.desired)}});
    // Scaling down removes tasks; up adds them.
    std::uint64_t running = 0;
    for (auto& [id, c] : containers_) {
      if (c.service_id != sid || !live_state(c.state)) continue;
      if (++running > s.desired) set_state(c, "exited", "die");
    }
    reconcile(sid);
    last_action = fmt::format("service {} scaled to {}", s.name, s.desired);
    return;
  }
  s.update_state = "updating";
  emit("service", "update", sid, {{"name", s.name}, {"updatestate.new", "updating"}});
  last_action = fmt::format("service {} updating", s.name);
  // Replace the tasks one at a time (stop-first), then mark the update completed; one
  // update in six pauses (a failed task with failure_action pause) until an operator resumes.
  auto step = std::make_shared<std::function<void(std::uint64_t)>>();
  *step = [this, sid, step](std::uint64_t left) {
    auto it = services_.find(sid);
    if (it == services_.end()) return;
    WService& sv = it->second;
    if (!dockerd_up || locked || quorum_lost) {
      at_(now_() + rng_.range(5 * kSec, kMin), [step, left] { (*step)(left); });
      return;
    }
    if (sv.update_state == "paused") return;
    if (left == 0) {
      sv.update_state = "completed";
      emit("service", "update", sid, {{"name", sv.name}, {"updatestate.new", "completed"}});
      return;
    }
    if (rng_.chance(0.15)) {
      sv.update_state = "paused";
      emit("service", "update", sid, {{"name", sv.name}, {"updatestate.new", "paused"}});
      at_(now_() + rng_.range(kMin, 40 * kMin), [this, sid, step, left] {
        auto jt = services_.find(sid);
        if (jt == services_.end() || jt->second.update_state != "paused") return;
        jt->second.update_state = "updating";
        emit("service", "update", sid, {{"name", jt->second.name}, {"updatestate.new", "updating"}});
        (*step)(left);
      });
      return;
    }
    for (auto& [id, c] : containers_) {
      if (c.service_id == sid && c.state == "running") {
        set_state(c, "exited", "die");
        break;
      }
    }
    reconcile(sid);
    at_(now_() + rng_.range(kSec, 10 * kSec), [step, left] { (*step)(left - 1); });
  };
  at_(now_() + rng_.range(200, 3 * kSec), [step, n = s.desired] { (*step)(std::max<std::uint64_t>(n, 1)); });
}

void World::crash_container() {
  std::vector<std::string> ids;
  for (const auto& [id, c] : containers_)
    if (c.state == "running") ids.push_back(id);
  if (ids.empty()) return;
  WContainer& c = containers_[rng_.pick(ids)];
  disk_.prunable[0] += 5 * kMiB;
  if (!c.service_id.empty()) {
    // A task crash: die, and the swarm starts a replacement (no event says it converged).
    set_state(c, "exited", "die");
    const std::string sid = c.service_id;
    at_(now_() + rng_.range(kSec, 6 * kSec), [this, sid] { reconcile(sid); });
    last_action = "task " + c.name + " crashed";
  } else if (c.restart_always) {
    // Restart policy: "restarting" (live) during the back-off, then started again.
    set_state(c, "restarting", "die");
    const std::string id = c.id;
    at_(now_() + rng_.range(100, 10 * kSec), [this, id] {
      auto it = containers_.find(id);
      if (it != containers_.end() && it->second.state == "restarting" && dockerd_up) set_state(it->second, "running", "start");
    });
    last_action = "container " + c.name + " died, restarting";
  } else {
    set_state(c, "exited", "die");
    last_action = "container " + c.name + " exited";
  }
}

void World::ci_job() {
  // A build or test container without a run stack label: pulls, builds, exits.
  WContainer& c = add_container(fmt::format("ci-job-{}", ids_), "", "", "", false);
  const std::string id = c.id;
  const std::uint64_t bytes = static_cast<std::uint64_t>(rng_.range(50, 2500)) * kMiB;
  at_(now_() + rng_.range(50, 2 * kSec), [this, id, bytes] {
    auto it = containers_.find(id);
    if (it == containers_.end() || it->second.state != "created" || !dockerd_up) return;
    set_state(it->second, "running", "start");
    at_(now_() + rng_.range(kSec, 3 * kMin), [this, id, bytes] {
      auto jt = containers_.find(id);
      if (jt == containers_.end() || jt->second.state != "running") return;
      set_state(jt->second, "exited", "die");
      // Its layer, a dangling image or build cache; a share of it is young (< until).
      disk_write(bytes, rng_.chance(0.8) ? static_cast<int>(rng_.range(0, 2)) : -1);
      if (rng_.chance(0.5)) at_(now_() + rng_.range(0, 30 * kSec), [this, id] { destroy(id); });
    });
  });
  last_action = "ci job " + c.name;
}

void World::fault() {
  const int roll = static_cast<int>(rng_.range(0, 99));
  if (roll < 20) {
    dockerd_restart(rng_.range(500, 40 * kSec));
  } else if (roll < 35) {
    unreachable = true;
    ++generation;
    last_action = "socket refuses";
    at_(now_() + rng_.range(100, 8 * kSec), [this] {
      unreachable = false;
      ++generation;
      last_action = "socket answers again";
    });
  } else if (roll < 45 && swarm_faults && role == Role::manager && !quorum_lost) {
    quorum_lost = true;
    ++generation;
    last_action = "manager lost quorum: /services 503";
    at_(now_() + rng_.range(10 * kSec, 6 * kMin), [this] {
      quorum_lost = false;
      ++generation;
      last_action = "quorum back";
      wake_reconcile_all(3 * kSec);
    });
  } else if (roll < 55 && swarm_faults && role == Role::manager) {
    autolock_ = true;  // the next dockerd restart comes back locked
    last_action = "autolock enabled";
  } else if (roll < 75) {
    const int k = static_cast<int>(rng_.range(0, 2));
    if (!pruning_[k] && dockerd_up) {
      // Somebody's `docker system prune` (or a second prune tool): ours gets a 409.
      pruning_[k] = WPrune{now_() + rng_.range(kSec, 90 * kSec), 0};
      last_action = fmt::format("external {} prune running", cdp::step_name(cdp::kPruneSteps[k]));
      at_(pruning_[k]->until, [this, k] {
        if (pruning_[k] && pruning_[k]->token == 0) {
          pruning_[k].reset();
          disk_.used -= std::min(disk_.used, disk_.prunable[k]);
          disk_.prunable[k] = 0;
          ++generation;
        }
      });
    }
  } else {
    static const PruneMode modes[] = {PruneMode::slow, PruneMode::hung, PruneMode::failing};
    prune_mode = modes[rng_.range(0, 2)];
    last_action = fmt::format("the next prunes will be {}", prune_mode == PruneMode::slow ? "slow"
                                                            : prune_mode == PruneMode::hung ? "hung" : "failing");
    at_(now_() + rng_.range(kMin, 30 * kMin), [this] { prune_mode = PruneMode::normal; });
  }
  ++generation;
  at_(now_() + rng_.range(20 * kSec, 15 * kMin), [this] { fault(); });
}

void World::dockerd_restart(Ms down_for) {
  if (!dockerd_up) return;
  dockerd_up = false;
  // In-flight prunes: the connection closes, the client sees an error (FACTS: dockerd's
  // stream ends without a final chunk on shutdown); the engine's work stops.
  for (auto& p : pruning_) p.reset();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [token, w] : waiting) {
    at_(now_(), [w] {
      cdp::StepResult r;
      r.step = w.first;
      r.outcome = cdp::StepResult::Outcome::failed;
      r.detail = "connection closed: dockerd shutting down";
      w.second(r);
    });
  }
  for (auto& [id, c] : containers_)
    if (live_state(c.state)) c.state = "exited";
  outbox_.clear();  // nobody hears events while it is down; the replay buffer is emptied
  last_action = fmt::format("dockerd restarting, down {} ms{}", down_for, autolock_ ? " (autolock: comes back locked)" : "");
  ++generation;
  at_(now_() + down_for, [this] {
    dockerd_up = true;
    if (autolock_ && role == Role::manager) {
      locked = true;
      // Task containers stay exited until unlock (FACTS "Locked swarm").
      at_(now_() + rng_.range(10 * kSec, 20 * kMin), [this] {
        locked = false;
        autolock_ = rng_.chance(0.5);
        last_action = "swarm unlocked";
        ++generation;
        wake_reconcile_all(5 * kSec);
      });
    }
    for (auto& [id, c] : containers_)
      if (c.restart_always && c.state == "exited") set_state(c, "running", "start");
    if (!locked) wake_reconcile_all(5 * kSec);
    last_action = locked ? "dockerd up, swarm LOCKED" : "dockerd up";
    ++generation;
  });
}

void World::prune(cdp::PruneStep step, std::function<void(cdp::StepResult)> done) {
  const int k = static_cast<int>(step);
  cdp::StepResult r;
  r.step = step;
  if (!reachable()) {
    r.outcome = cdp::StepResult::Outcome::failed;
    r.detail = "connection refused";
    at_(now_() + 1, [done, r] { done(r); });
    return;
  }
  if (pruning_[k]) {
    r.outcome = cdp::StepResult::Outcome::deferred;
    r.detail = "a prune operation is already running";
    at_(now_() + rng_.range(1, 20), [done, r] { done(r); });
    return;
  }
  if (prune_mode == PruneMode::failing && rng_.chance(0.7)) {
    r.outcome = cdp::StepResult::Outcome::failed;
    r.detail = "500 Internal Server Error";
    at_(now_() + rng_.range(1, 500), [done, r] { done(r); });
    return;
  }
  const Ms took = prune_mode == PruneMode::slow   ? rng_.range(30 * kSec, 15 * kMin)
                  : prune_mode == PruneMode::hung ? rng_.range(20 * kMin, 3 * 60 * kMin)
                                                  : rng_.range(5, 3 * kSec);
  const std::uint64_t token = next_token_++;
  pruning_[k] = WPrune{now_() + took, token};
  waiting_[token] = {step, done};
  at_(now_() + took, [this, k, token, step] {
    if (!pruning_[k] || pruning_[k]->token != token) return;  // lost in a dockerd restart
    pruning_[k].reset();
    cdp::StepResult res;
    res.step = step;
    res.outcome = cdp::StepResult::Outcome::done;
    res.reclaimed = disk_.prunable[k];
    disk_.used -= std::min(disk_.used, disk_.prunable[k]);
    disk_.prunable[k] = 0;
    if (step == cdp::PruneStep::containers) {
      // Every container not running goes, `created` included (FACTS).
      std::vector<std::string> ids;
      for (const auto& [id, c] : containers_)
        if (c.state == "exited" || c.state == "created") ids.push_back(id);
      for (const auto& id : ids) destroy(id);
      res.deleted = ids;
    }
    last_action = fmt::format("prune {} done, {} MiB", cdp::step_name(step), res.reclaimed / kMiB);
    ++generation;
    auto cb = waiting_.extract(token);
    if (!cb.empty()) cb.mapped().second(res);
  });
}

}  // namespace sim
