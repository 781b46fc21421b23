// The simulation's fake Docker host: engine (services, containers, swarm role, prunes),
// its /events output, and the disk, as plain structs on one thread. It is the TRUTH the
// invariants judge by; the daemon under test only sees it through lists and events.
// Must not know about the timeline, the live model or the gates (test/sim/sim.cpp wires).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // docker/events.hpp uses it without including it

#include "disk/usage.hpp"
#include "docker/events.hpp"
#include "model/types.hpp"
#include "policy/prune_step.hpp"
#include "util/time.hpp"

namespace sim {

using Ms = std::int64_t;  // simulated time since the trace began, milliseconds
constexpr Ms kSec = 1000;
constexpr Ms kMin = 60 * kSec;

// The ONE source of randomness: every choice of a trace is drawn from this, in order.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::uint64_t next() { return g_(); }
  Ms range(Ms lo, Ms hi) { return hi <= lo ? lo : lo + static_cast<Ms>(g_() % static_cast<std::uint64_t>(hi - lo + 1)); }
  bool chance(double p) { return static_cast<double>(g_() >> 11) * 0x1.0p-53 < p; }
  template <class T> const T& pick(const std::vector<T>& v) { return v[g_() % v.size()]; }

 private:
  std::mt19937_64 g_;
};

// The discrete-event agenda the world and the daemon share (sim.cpp owns it).
using Schedule = std::function<void(Ms at, std::function<void()>)>;

enum class Role { manager, worker, inactive };

struct WContainer {
  std::string id, name, image;
  cdp::Labels labels;    // stack labels, com.docker.swarm.service.id for tasks
  std::string state;     // created running restarting paused exited
  bool restart_always = false;
  std::string service_id;  // a task of this service ("" otherwise)
  std::string stack;       // the stack it belongs to ("" none)
  Ms created = 0;
};

struct WService {
  std::string id, name, stack;
  bool run = false;                  // a CI run stack's service
  std::uint64_t desired = 1;
  std::optional<std::string> update_state;
  cdp::TimePoint updated_at{};       // wall time of the last spec change
  bool pending_forever = false;      // unsatisfiable constraint: never gets a task
};

struct WDisk {
  std::uint64_t total = 100ull << 30;
  std::uint64_t used = 0;
  std::uint64_t prunable[3] = {0, 0, 0};  // what each prune step would free now
};

// One prune running in the engine (ours or somebody else's `docker ... prune`).
struct WPrune {
  Ms until = 0;
  std::uint64_t token = 0;  // 0: external
};

class World {
 public:
  World(Rng& rng, Schedule schedule, std::function<Ms()> now, std::function<cdp::TimePoint()> wall,
        Role role, bool swarm_faults);

  // ---- what the daemon can ask (HTTP answers) ----
  bool reachable() const { return dockerd_up && !unreachable; }
  cdp::EngineInfo info() const;
  // GET /services?status=true: nullopt is the 503 (worker, inactive, locked, quorum lost).
  std::optional<std::vector<cdp::Service>> services() const;
  std::vector<cdp::Container> live_containers() const;  // the status filter of a list
  std::optional<cdp::Container> inspect(const std::string& id) const;  // nullopt: 404
  cdp::DiskUsage disk_usage() const;
  double disk_percent() const;

  // ---- truth for the invariants ----
  // Live run stacks and unconverged-unstuck services, each with the episode it is in
  // (bumped whenever it becomes live / unconverged again), so "the same one as at the
  // confirming read" is exact. Call refresh() after every change (sim.cpp does).
  void refresh(cdp::TimePoint wall, cdp::Duration stuck_after);
  const std::map<std::string, std::uint64_t>& live_runs() const { return live_runs_; }
  const std::map<std::string, std::uint64_t>& unconverged() const { return unconverged_; }
  bool all_converged_strict() const;  // no service unconverged, paused or pending at all
  bool prune_running() const;         // any prune in the engine (409 risk)
  std::string service_name(const std::string& id) const;

  // ---- the engine's events since the last drain (the stream reads these) ----
  std::vector<cdp::docker::Event> drain_events();

  // ---- activity and faults (scheduled by the world itself from start()) ----
  void start();
  // A prune request. Returns the token; `done(outcome, reclaimed, detail)` is called when
  // the engine answers (never, if the answer is lost: see dockerd_restart()).
  void prune(cdp::PruneStep step, std::function<void(cdp::StepResult)> done);
  void dockerd_restart(Ms down_for);

  std::string summary() const;

  // State the sim reads (and the trace prints).
  Role role;
  bool swarm_faults;
  bool dockerd_up = true;
  bool unreachable = false;   // the socket refuses for a moment (dockerd alive)
  bool locked = false;        // LocalNodeState "locked" after a restart with autolock
  bool quorum_lost = false;   // a manager without quorum: /services 503
  enum class PruneMode { normal, slow, hung, failing } prune_mode = PruneMode::normal;
  std::string last_action;    // for the trace
  std::uint64_t generation = 0;  // bumped by every change: the sim re-checks after one

 private:
  std::string new_id();
  void emit(const std::string& type, const std::string& action, const std::string& id, cdp::Labels attrs);
  void emit_container(const WContainer& c, const std::string& action);
  WContainer& add_container(const std::string& name, const std::string& stack, const std::string& label_key,
                            const std::string& service_id, bool restart_always);
  void set_state(WContainer& c, const std::string& state, const std::string& action);
  void destroy(const std::string& id);
  void disk_write(std::uint64_t bytes, int prunable_kind);

  void activity();  // one random change, then schedules the next
  void deploy_run();
  void remove_stack(const std::string& stack);
  void start_task(const std::string& service_id, Ms delay);
  void reconcile(const std::string& service_id);  // the swarm brings running tasks to desired
  void update_service(const std::string& service_id);
  void crash_container();
  void ci_job();
  void fault();
  std::uint64_t running_tasks(const std::string& service_id) const;
  bool converged(const WService& s) const;
  void wake_reconcile_all(Ms delay);

  Rng& rng_;
  Schedule at_;
  std::function<Ms()> now_;
  std::function<cdp::TimePoint()> wall_;
  std::map<std::string, WService> services_;
  std::map<std::string, WContainer> containers_;
  std::set<std::string> stacks_;     // deployed run stacks
  // Every run stack name ever deployed: a leftover container restarted by its restart
  // policy (dockerd restart) makes its stack live again after the stack was removed.
  std::set<std::string> run_names_;
  WDisk disk_;
  std::optional<WPrune> pruning_[3];
  std::uint64_t next_token_ = 1;
  std::uint64_t ids_ = 0;
  bool autolock_ = false;
  std::vector<cdp::docker::Event> outbox_;
  std::map<std::string, std::uint64_t> live_runs_, unconverged_;
  std::map<std::string, std::uint64_t> run_episode_, conv_episode_;
  // Answers of prunes in flight, lost when dockerd restarts mid-way (connection closed).
  std::map<std::uint64_t, std::pair<cdp::PruneStep, std::function<void(cdp::StepResult)>>> waiting_;
};

}  // namespace sim
