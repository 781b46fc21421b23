// The daemon's edges and the invariants. The edges do the I/O daemon/ does around the pure
// cores -- the timeline, and the Docker watch's core (policy/watch_core.hpp: reconnect
// backoff, heal schedule, convergence poll), driven here exactly as docker_watch.cpp drives
// them -- against the fake world, on simulated time: list-then-watch, the disk watch, the
// confirming lists, carrying out the timeline's actions, one timer, the state file, crashes
// and SIGTERM. The checker watches every action the timeline emits and judges it by the
// world's truth.
#include "sim.hpp"

#include <deque>
#include <memory>
#include <queue>
#include <set>

#include <fmt/format.h>

#include "model/live_model.hpp"
#include "policy/gates.hpp"
#include "policy/timeline.hpp"
#include "policy/watch_core.hpp"
#include "world.hpp"

namespace sim {

namespace tl = cdp::timeline;

Stats& Stats::operator+=(const Stats& o) {
  steps += o.steps;
  sim_ms += o.sim_ms;
  prunes_started += o.prunes_started;
  steps_sent += o.steps_sent;
  confirm_refused += o.confirm_refused;
  deferred += o.deferred;
  daemon_restarts += o.daemon_restarts;
  liveness_met += o.liveness_met;
  return *this;
}

std::string replay_command(const Options& o) {
  return fmt::format("build/sim --seed {} --steps {}{}{} --trace", o.seed, o.max_steps,
                     o.swarm_faults ? " --swarm-faults" : "", o.wall_back ? "" : " --no-wall-back");
}

namespace {

constexpr Ms kDiskWatch = 2 * kSec;      // SPEC: disk crossings seen within 2 s
constexpr Ms kRestartSec = 5 * kSec;     // systemd/ci-docker-prune.service RestartSec=5s
constexpr Ms kRetryHold = tl::kDeferredRetry.count();  // after a 409 or a failed confirm
// 2026-11-27T00:00:00Z, so wall times read like the SPEC's examples.
constexpr Ms kWallBase = 1795737600000;
constexpr Ms kMonoBase = 3600 * kSec;    // an hour of uptime at the trace's start

class Failed : public std::exception {
 public:
  explicit Failed(std::string m) : msg(std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

const char* input_name(const tl::Input& in) {
  static const char* names[] = {"ModelChanged", "TimerFired", "ConfirmResult", "StepFinished", "PruneNow", "Reload", "Stop"};
  return names[in.index()];
}

// The lists the confirming read returned (kept for AdoptConfirmed).
struct ConfirmLists {
  cdp::EngineInfo info;
  std::optional<std::vector<cdp::Service>> services;
  std::vector<cdp::Container> containers;
  cdp::TimePoint at;
};

// One prune as the checker follows it: from StartConfirm until an answer is followed by
// no further request.
struct Chain {
  bool manual = false;
  bool dry_run = false;
  Ms started = 0;
  bool confirmed = false;   // ConfirmResult with lists came back
  bool read = false;        // the confirming lists were read from the world
  Ms read_at = 0;
  std::map<std::string, std::uint64_t> runs_at_read, unconv_at_read;
  int last_step = -1;
  bool sent_any = false;    // a SendStep went out (liveness: "gets a prune")
  bool sent_real = false;   // a non-dry step was answered done/failed (cooldown starts)
};

enum class StreamMode { normal, delay, drop, replay, stall };
const char* mode_name(StreamMode m) {
  static const char* n[] = {"normal", "delay", "drop", "replay", "stall"};
  return n[static_cast<int>(m)];
}

struct Daemon {
  std::uint64_t inc = 0;
  Ms started = 0;
  cdp::LiveModel model;
  tl::TimelineState state;
  bool finished = false;
  bool stop_sent = false;
  // the Docker session
  bool session = false;
  std::uint64_t stream = 0;     // id of the open /events stream, 0 none
  Ms last_delivery = 0;         // events of one stream arrive in order
  std::int64_t in_pipe = 0;     // events on their way to the model
  std::vector<cdp::docker::Event> stalled;  // held by a hung stream
  bool lossy = false;           // an event was dropped, replayed or lost since the last list
  bool connect_scheduled = false;
  // The Docker watch's core, as the Manager holds it (daemon/manager.hpp).
  cdp::watch::Session watch;
  cdp::watch::Heal heal;
  std::uint64_t heal_timer = 0;  // the armed heal wake-up (a newer one replaces it)
  cdp::watch::ConvergencePoll poll;
  bool poll_busy = false;        // a poll request or sleep is out (the coroutine is suspended)
  // the timer and coalesced ModelChanged
  std::uint64_t timer = 0;
  bool changed_posted = false;
  // requests in flight (the timeline allows one)
  bool confirm_out = false;
  std::optional<cdp::PruneStep> step_out;
  std::optional<ConfirmLists> last_confirm;
  std::optional<Chain> chain;
  Ms last_end = -kMin * 60;     // any chain's end in this incarnation
  std::set<std::uint64_t> replies;
  cdp::DiskUsage last_disk{};
};

class Sim {
 public:
  explicit Sim(const Options& o) : opt_(o), rng_(o.seed) {
    // The per-trace configuration, drawn first.
    config_.gates.settle = std::chrono::seconds(rng_.pick(std::vector<int>{0, 1, 3, 10}));
    config_.prune.cooldown = std::chrono::seconds(rng_.pick(std::vector<int>{0, 5, 20, 60, 300, 900}));
    config_.gates.stuck_after = std::chrono::seconds(rng_.pick(std::vector<int>{0, 120, 1800}));
    config_.disk.threshold_percent = static_cast<double>(rng_.pick(std::vector<int>{70, 80, 80, 85}));
    config_.prune.dry_run = rng_.chance(0.08);
    if (rng_.chance(0.1)) {
      switch (rng_.range(0, 2)) {
        case 0: config_.prune.containers = false; break;
        case 1: config_.prune.images = false; break;
        default: config_.prune.build_cache = false; break;
      }
    }
    const auto r = rng_.range(0, 99);
    const Role role = r < 70 ? Role::manager : r < 85 ? Role::worker : Role::inactive;
    world_ = std::make_unique<World>(
        rng_, [this](Ms at, std::function<void()> fn) { schedule(at, std::move(fn)); }, [this] { return now_; },
        [this] { return wall(); }, role, o.swarm_faults);
  }

  Result run() {
    Result res;
    try {
      note(fmt::format("config: settle {}s cooldown {}s stuck_after {}s threshold {}% dry_run {} steps {}{}{} role {}",
                       secs(config_.gates.settle), secs(config_.prune.cooldown), secs(config_.gates.stuck_after),
                       config_.disk.threshold_percent, config_.prune.dry_run, config_.prune.containers ? "c" : "-",
                       config_.prune.images ? "i" : "-", config_.prune.build_cache ? "b" : "-",
                       world_->role == Role::manager ? "manager" : world_->role == Role::worker ? "worker" : "inactive"));
      world_->start();
      start_daemon();
      schedule(rng_.range(10 * kSec, 5 * kMin), [this] { daemon_fault(); });
      const Ms limit = opt_.max_hours * 60 * kMin;
      while (!agenda_.empty() && stats_.steps < opt_.max_steps && now_ <= limit) {
        Item item = agenda_.top();
        agenda_.pop();
        now_ = item.at;
        item.fn();
        after_item();
      }
    } catch (const Failed& f) {
      res.ok = false;
      res.failure = fmt::format("seed {}: t={} step {}: {}", opt_.seed, clock(now_), stats_.steps, f.msg);
      note("VIOLATION: " + f.msg);
    }
    stats_.sim_ms = now_;
    res.stats = stats_;
    res.trace.assign(trace_.begin(), trace_.end());
    return res;
  }

 private:
  // ------------------------------------------------------------------ agenda and clocks
  struct Item {
    Ms at;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
  };
  void schedule(Ms at, std::function<void()> fn) { agenda_.push(Item{std::max(at, now_), ++seq_, std::move(fn)}); }

  cdp::SteadyTime mono() const { return cdp::SteadyTime(std::chrono::milliseconds(kMonoBase + now_)); }
  cdp::TimePoint wall() const { return cdp::TimePoint(std::chrono::milliseconds(kWallBase + now_ + wall_offset_)); }
  tl::Now now() const { return tl::Now{mono(), wall()}; }
  static long long secs(cdp::Duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }
  static std::string clock(Ms t) { return fmt::format("{}.{:03}s", t / 1000, t % 1000); }

  void note(const std::string& line) {
    if (!opt_.trace) return;
    trace_.push_back(fmt::format("[{:>10}] {}", clock(now_), line));
    // About 50 steps with the world's lines between them.
    while (trace_.size() > 160) trace_.pop_front();
  }

  // An incarnation's callback: dropped when that daemon has exited since.
  std::function<void()> in_daemon(std::function<void()> fn) {
    return [this, inc = d_ ? d_->inc : 0, fn = std::move(fn)] {
      if (d_ && d_->inc == inc && !d_->finished) fn();
    };
  }

  // After every agenda item: world truth, event routing, quiet tracking.
  void after_item() {
    world_->refresh(wall(), config_.gates.stuck_after);
    if (opt_.trace && world_->last_action != last_world_action_) {
      last_world_action_ = world_->last_action;
      note("world: " + last_world_action_ + " | " + world_->summary());
    }
    pump_events();
    if (d_ && !d_->finished && d_->session && !world_->reachable()) end_session("connection reset");
    track_quiet();
  }

  // ------------------------------------------------------------------ the daemon's edges

  void start_daemon() {
    const std::uint64_t inc = ++incarnations_;
    d_ = std::make_unique<Daemon>();
    d_->inc = inc;
    d_->started = now_;
    // The state file: the last Persist'ed prune (same boot: its monotonic time is valid).
    d_->state = tl::restore(state_file_, true, now());
    d_->model.set_disk_path("/var/lib/docker");
    d_->heal = cdp::watch::Heal(mono());
    d_->model.set_stack_labels(config_.gates.stack_labels);  // as Manager's constructor
    read_disk();
    note(fmt::format("daemon #{} starts (state file: {})", inc,
                     state_file_ ? fmt::format("last prune at t={}", clock(mono_ms(state_file_->mono))) : "none"));
    schedule(now_ + rng_.range(10, 500), in_daemon([this] { connect(); }));
    schedule(now_ + kDiskWatch, in_daemon([this] { disk_watch(); }));
    arm_heal();
    post_changed();
  }

  static Ms mono_ms(cdp::SteadyTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() - kMonoBase;
  }
  static Ms ms(cdp::Duration d) { return d.count(); }

  // daemon/docker_watch.cpp docker_session(): open /events FIRST, then list, then apply
  // events line by line.
  void connect() {
    Daemon& d = *d_;
    d.connect_scheduled = false;
    if (!world_->reachable()) return fail_session("connection refused");
    d.stream = ++streams_;
    d.last_delivery = now_;
    d.stalled.clear();
    const bool was_connected = d.model.connected();
    if (!was_connected) d.model.set_connected(true);
    relist();
    d.model.mark_synced();
    d.lossy = false;
    d.session = true;
    d.watch.synced(mono(), was_connected);
    note(fmt::format("daemon: connected, listed ({} live containers)", d.model.container_count()));
    read_disk();
    wake_poller();
    post_changed();
  }

  // docker_watch.cpp relist() and list_services(): /info, /services on a manager only (a
  // failure there is recorded, and the poll retries it), live containers. Instant here.
  void relist() {
    Daemon& d = *d_;
    d.model.set_info(world_->info());
    const auto generation = d.model.service_generation();
    if (!cdp::watch::ask_services(d.model.swarm_role())) {
      d.model.set_services(std::nullopt, mono(), generation);
    } else if (auto services = world_->services()) {
      if (d.model.set_services(*services, mono(), generation)) d.poll.observed(mono());
    } else {
      d.model.set_services_error("Failed to list services: 503 Service Unavailable");
      wake_poller();
    }
    d.model.set_containers(world_->live_containers());
  }

  // The stream ended or a request failed: docker_loop() marks the model stale and asks the
  // watch core when to reconnect.
  void end_session(const std::string& why) {
    Daemon& d = *d_;
    d.session = false;
    d.stream = 0;
    d.stalled.clear();
    note("daemon: lost Docker: " + why);
    fail_session(why);
  }

  void fail_session(const std::string& why) {
    Daemon& d = *d_;
    d.session = false;
    d.stream = 0;
    const cdp::watch::Reconnect next = d.watch.ended(mono(), d.model.synced());
    d.model.set_connected(false);
    post_changed();
    if (!d.connect_scheduled) {
      d.connect_scheduled = true;
      schedule(now_ + ms(next.wait), in_daemon([this] { connect(); }));
    }
    (void)why;
  }

  // docker_watch.cpp heal_loop(): one wake-up at the core's wake_at; the re-list keeps the
  // stream open.
  void arm_heal() {
    Daemon& d = *d_;
    const std::uint64_t gen = ++d.heal_timer;
    const auto ns = (d.heal.wake_at() - mono()).count();
    const Ms delay = ns <= 0 ? 0 : (ns + 999999) / 1000000;
    schedule(now_ + delay, in_daemon([this, gen] {
      if (d_->heal_timer == gen) heal();
    }));
  }

  void ask_heal() {
    d_->heal.ask();
    arm_heal();
  }

  void heal() {
    Daemon& d = *d_;
    if (!d.heal.due(mono())) return arm_heal();
    d.heal.begun(mono());
    if (d.session && d.model.synced()) {
      const bool listed = world_->reachable();
      if (listed) {
        note("daemon: heal re-list");
        relist();
        // What the stream lost before this list is healed; events still on their way (or
        // held by a hung stream) may be older than it.
        if (stream_mode_ == StreamMode::normal && d.in_pipe == 0 && d.stalled.empty()) d.lossy = false;
      }
      if (d.heal.finished(mono(), listed)) {
        end_session("a heal re-list failed");
      } else {
        wake_poller();
        post_changed();
      }
    }
    arm_heal();
  }

  void disk_watch() {
    read_disk();
    schedule(now_ + kDiskWatch, in_daemon([this] { disk_watch(); }));
  }

  void read_disk() {
    Daemon& d = *d_;
    const cdp::DiskUsage u = world_->disk_usage();
    d.model.set_disk(u);
    if (u.used_bytes != d.last_disk.used_bytes) {
      d.last_disk = u;
      post_changed();
    }
  }

  // docker_watch.cpp convergence_loop(): carries out the core's moves. A hint while a
  // request or sleep is out is kept by the core (the daemon's Wakeup does the same).
  void wake_poller() {
    d_->poll.hint();
    poll();
  }

  void poll() {
    Daemon& d = *d_;
    if (d.poll_busy) return;
    const cdp::watch::PollMove move = d.poll.next(mono(), d.session && d.model.synced(), d.model.swarm_role());
    if (std::holds_alternative<cdp::watch::PollIdle>(move)) return;
    d.poll_busy = true;
    auto resume = [this] {
      d_->poll_busy = false;
      poll();
    };
    if (const auto* sleep = std::get_if<cdp::watch::PollSleep>(&move)) {
      d.poll.take_trouble();
      const auto ns = (sleep->until - mono()).count();
      schedule(now_ + (ns <= 0 ? 0 : (ns + 999999) / 1000000), in_daemon(resume));
      return;
    }
    if (std::holds_alternative<cdp::watch::PollNoServices>(move)) {
      d.model.set_services(std::nullopt, mono(), d.model.service_generation());
      post_changed();
      d.poll_busy = false;
      return poll();
    }
    const std::uint64_t stream = d.stream;
    // The request is read from the world now and answered a moment later.
    const bool reachable = world_->reachable();
    if (std::holds_alternative<cdp::watch::PollAskInfo>(move)) {
      const cdp::EngineInfo info = world_->info();
      schedule(now_ + rng_.range(1, 30), in_daemon([this, stream, reachable, info, resume] {
        Daemon& dd = *d_;
        if (!dd.session || dd.stream != stream || !dd.model.synced()) {
          dd.poll.stop();
          return resume();
        }
        if (reachable) {
          dd.model.set_info(info);
          post_changed();
        }
        dd.poll.info_answered(mono(), reachable);
        resume();
      }));
      return;
    }
    // PollAskServices
    const auto generation = d.model.service_generation();
    const auto services = world_->services();  // nullopt: 503 (quorum lost, locked)
    schedule(now_ + rng_.range(1, 30), in_daemon([this, stream, reachable, generation, services, resume] {
      Daemon& dd = *d_;
      if (!dd.session || dd.stream != stream || !dd.model.synced()) {
        dd.poll.stop();
        return resume();
      }
      if (!reachable || !services) {
        dd.model.set_services_error("Failed to list services: 503 Service Unavailable");
        post_changed();
        dd.poll.services_answered(mono(), cdp::watch::ServicesAnswer::failed, false);
        return resume();
      }
      if (!dd.model.set_services(*services, mono(), generation)) {
        dd.poll.services_answered(mono(), cdp::watch::ServicesAnswer::stale, false);
        return resume();
      }
      post_changed();
      const bool converged =
          cdp::evaluate_gates(dd.model.snapshot(), config_, now()).gate(cdp::GateId::converge).open;
      dd.poll.services_answered(mono(), cdp::watch::ServicesAnswer::accepted, converged);
      resume();
    }));
  }

  // ------------------------------------------------------------------ /events

  void pump_events() {
    auto events = world_->drain_events();
    if (events.empty()) return;
    if (!d_ || d_->finished || !d_->session || !world_->reachable()) return;  // nobody listens: lost
    Daemon& d = *d_;
    for (auto& e : events) {
      switch (stream_mode_) {
        case StreamMode::drop:
          if (rng_.chance(0.4)) {
            d.lossy = true;
            continue;
          }
          break;
        case StreamMode::stall:
          d.lossy = true;
          d.stalled.push_back(std::move(e));
          continue;
        case StreamMode::replay:
          if (!history_.empty() && rng_.chance(0.3)) {
            d.lossy = true;  // an old event again: the model may hold a phantom until a list
            deliver(history_[rng_.next() % history_.size()], rng_.range(0, 500));
          }
          break;
        default: break;
      }
      deliver(e, stream_mode_ == StreamMode::delay ? rng_.range(50, 5 * kSec) : rng_.range(0, 3));
      history_.push_back(e);
      if (history_.size() > 64) history_.pop_front();
    }
  }

  void deliver(const cdp::docker::Event& e, Ms delay) {
    Daemon& d = *d_;
    d.last_delivery = std::max(d.last_delivery, now_ + delay);  // one stream is in order
    ++d.in_pipe;
    const std::uint64_t stream = d.stream;
    schedule(d.last_delivery, in_daemon([this, e, stream] {
      Daemon& dd = *d_;
      --dd.in_pipe;
      if (dd.stream != stream || !dd.session) return;  // that stream is closed: lost
      const cdp::EventEffect fx = dd.model.apply_event(e);
      if (fx.inspect) {
        // A container died: is it restarting? (GET /containers/{id}/json a moment later)
        schedule(now_ + rng_.range(1, 50), in_daemon([this, id = *fx.inspect, ticket = fx.inspect_ticket, stream] {
          if (d_->stream != stream || !d_->session) return;
          // Failed: still live in the model (unknown means closed); a heal re-list decides.
          if (!world_->reachable()) return ask_heal();
          if (d_->model.apply_inspect(id, ticket, world_->inspect(id))) post_changed();
        }));
      }
      if (fx.poll_convergence) wake_poller();
      if (fx.changed) post_changed();
    }));
  }

  void set_stream_mode(StreamMode m) {
    stream_mode_ = m;
    note(fmt::format("fault: event stream {}", mode_name(m)));
    if (m == StreamMode::normal && d_ && !d_->finished && d_->session) {
      auto held = std::move(d_->stalled);
      d_->stalled.clear();
      for (auto& e : held) deliver(e, rng_.range(0, 3));  // the hung proxy resumes
    }
  }

  // ------------------------------------------------------------------ the timeline

  void post_changed() {
    Daemon& d = *d_;
    if (d.changed_posted) return;
    d.changed_posted = true;
    // Posted, as Manager::changed(): a burst of events costs one step.
    schedule(now_, in_daemon([this] {
      d_->changed_posted = false;
      step(tl::ModelChanged{});
    }));
  }

  void arm(std::optional<cdp::SteadyTime> wake) {
    Daemon& d = *d_;
    const std::uint64_t gen = ++d.timer;
    if (!wake) return;
    // Round up to the millisecond: never fire before the instant asked for.
    const auto ns = (*wake - mono()).count();
    const Ms delay = ns <= 0 ? 0 : (ns + 999999) / 1000000;
    schedule(now_ + delay + rng_.range(0, 3), in_daemon([this, gen] {
      if (d_->timer == gen) step(tl::TimerFired{});
    }));
  }

  void step(const tl::Input& input) {
    Daemon& d = *d_;
    const cdp::Snapshot snap = d.model.snapshot();
    tl::Transition t = tl::step(d.state, snap, config_, now(), input);
    ++stats_.steps;
    persist_seen_ = false;
    d.state = std::move(t.state);
    std::string acts;
    for (const auto& a : t.actions) {
      if (opt_.trace) {
        std::string name = std::visit(
            [](const auto& x) -> std::string {
              using T = std::decay_t<decltype(x)>;
              if constexpr (std::is_same_v<T, tl::SendStep>) return fmt::format("SendStep({}{})", cdp::step_name(x.step), x.dry_run ? ", dry-run" : "");
              else if constexpr (std::is_same_v<T, tl::Journal>)
                return "J:" + x.event + (x.event == "gate" || x.event == "prune_step" ? "" : "(" + x.message + ")");
              else if constexpr (std::is_same_v<T, tl::StartConfirm>) return "StartConfirm";
              else if constexpr (std::is_same_v<T, tl::AdoptConfirmed>) return "AdoptConfirmed";
              else if constexpr (std::is_same_v<T, tl::Persist>) return "Persist";
              else if constexpr (std::is_same_v<T, tl::Reply>) return "Reply(" + x.outcome + ")";
              else if constexpr (std::is_same_v<T, tl::Finish>) return "Finish";
              else if constexpr (std::is_same_v<T, tl::PruneFinishedSignal>) return "Signal";
              else return "";
            },
            a);
        if (!name.empty()) acts += (acts.empty() ? "" : " ") + name;
      }
      carry_out(input, a);
    }
    // A chain whose last answer asked for nothing more is over.
    if (d.chain && !d.confirm_out && !d.step_out) end_chain();
    persist_seen_ = false;
    if (opt_.trace) {
      const auto& v = last_view_;
      std::string model_runs, model_unconv;
      if (v) {
        for (const auto& r : v->decision.report.live_run_stacks) model_runs += (model_runs.empty() ? "" : ",") + r.substr(0, 11);
        for (const auto& r : v->decision.report.unconverged_services) model_unconv += (model_unconv.empty() ? "" : ",") + r;
      }
      note(fmt::format("step {} {} -> [{}] state={} | model {}{} runs=[{}] unconv=[{}] | world {}", stats_.steps,
                       input_name(input), acts, v ? cdp::state_name(v->decision.state) : "?",
                       snap.docker_connected ? "conn" : "DISCONN", snap.synced ? "" : " stale", model_runs, model_unconv,
                       world_->summary()));
    }
    if (d.finished) return exit_daemon("Finish", kSec + rng_.range(0, 9 * kSec));
    arm(t.wake_at);
  }

  void carry_out(const tl::Input& input, const tl::Action& action) {
    Daemon& d = *d_;
    if (const auto* a = std::get_if<tl::SendStep>(&action)) return send_step(*a);
    if (std::holds_alternative<tl::StartConfirm>(action)) return start_confirm(std::holds_alternative<tl::PruneNow>(input));
    if (std::holds_alternative<tl::AdoptConfirmed>(action)) {
      if (!d.last_confirm) throw Failed("AdoptConfirmed without confirming lists");
      // As daemon/scheduler.cpp Manager::adopt_confirmed().
      const auto& c = *d.last_confirm;
      d.model.set_info(c.info);
      d.model.set_services(c.services, mono(), d.model.service_generation());
      d.model.set_containers(c.containers);
      ++stats_.confirm_refused;
      // The adopted list is one observation: the converge gate needs a second one, so the
      // convergence poll runs (the daemon must do the same after AdoptConfirmed).
      wake_poller();
      post_changed();
      return;
    }
    if (const auto* p = std::get_if<tl::Persist>(&action)) {
      if (mono_ms(p->last.mono) != now_) throw Failed("Persist with a time other than now");
      state_file_ = p->last;  // atomic (temp file, fsync, rename): all or nothing
      persist_seen_ = true;
      return;
    }
    if (const auto* r = std::get_if<tl::Reply>(&action)) {
      if (!d.replies.erase(r->request)) throw Failed(fmt::format("Reply to request {} that is not waiting", r->request));
      return;
    }
    if (std::holds_alternative<tl::Finish>(action)) {
      if (d.step_out) throw Failed("Finish while a prune step is in flight");
      if (!d.replies.empty()) throw Failed("Finish with a PruneNow call unanswered");
      if (!d.stop_sent) throw Failed("Finish without Stop");
      d.finished = true;
      return;
    }
    if (const auto* p = std::get_if<tl::Publish>(&action)) {
      if (opt_.trace) last_view_ = p->view;
      return;
    }
  }

  // ---- requests the timeline makes, and the checks on them

  void start_confirm(bool manual) {
    Daemon& d = *d_;
    if (d.stop_sent) throw Failed("a prune started after Stop");
    if (d.confirm_out || d.step_out) throw Failed("a prune started while a request is in flight");
    if (d.chain) end_chain();  // it ended in this very step (its last answer came in)
    if (!manual) {
      // SPEC "Never twice, never in a loop": 10 s end to start, cooldown, across restarts.
      const Ms floor_from = std::max(d.last_end, last_sent_end_);
      if (now_ - floor_from < 10 * kSec)
        throw Failed(fmt::format("automatic prune {} ms after the previous prune ended (floor 10 s)", now_ - floor_from));
      const Ms cooldown = std::chrono::duration_cast<std::chrono::milliseconds>(config_.prune.cooldown).count();
      if (now_ - last_real_end_ < cooldown)
        throw Failed(fmt::format("automatic prune {} ms after the last prune (t={}), cooldown {} ms", now_ - last_real_end_,
                                 clock(last_real_end_), cooldown));
    }
    Chain c;
    c.manual = manual;
    c.dry_run = config_.prune.dry_run;
    c.started = now_;
    d.chain = c;
    d.confirm_out = true;
    ++stats_.prunes_started;
    // The lists take a moment to read and to answer; the world moves meanwhile.
    schedule(now_ + rng_.range(0, 20), in_daemon([this] { read_confirm(); }));
  }

  void read_confirm() {
    Daemon& d = *d_;
    if (!world_->reachable()) {
      schedule(now_ + rng_.range(1, 100), in_daemon([this] { answer_confirm(std::nullopt); }));
      return;
    }
    // prune/prune_api.cpp confirm_lists(): /services on a manager only, and a manager whose
    // /services fails fails the confirmation.
    ConfirmLists lists{world_->info(), std::nullopt, world_->live_containers(), wall()};
    if (cdp::watch::ask_services(cdp::swarm_role_of(lists.info))) {
      lists.services = world_->services();
      if (!lists.services) {
        schedule(now_ + rng_.range(1, 100), in_daemon([this] { answer_confirm(std::nullopt); }));
        return;
      }
    }
    world_->refresh(wall(), config_.gates.stuck_after);
    d.chain->read = true;
    d.chain->read_at = now_;
    d.chain->runs_at_read = world_->live_runs();
    d.chain->unconv_at_read = world_->unconverged();
    schedule(now_ + rng_.range(1, 100), in_daemon([this, lists] { answer_confirm(lists); }));
  }

  // The confirming lists as the daemon builds them (daemon/scheduler.cpp confirm_job()): a
  // Snapshot made by a LiveModel of their own, stamped when the answer arrived, with the
  // model's disk and disk path.
  void answer_confirm(std::optional<ConfirmLists> lists) {
    Daemon& d = *d_;
    d.confirm_out = false;
    tl::ConfirmResult r;
    if (!lists) {
      r.error = "connection refused";
      last_trouble_ = now_;
    } else {
      cdp::LiveModel fresh;
      fresh.set_stack_labels(config_.gates.stack_labels);  // as Manager::snapshot_of
      fresh.set_connected(true);
      fresh.set_info(lists->info);
      fresh.set_services(lists->services, mono(), fresh.service_generation());
      fresh.set_containers(lists->containers);
      fresh.mark_synced();
      const cdp::Snapshot mine = d.model.snapshot();
      fresh.set_disk_path(mine.disk_path);
      cdp::Snapshot s = fresh.snapshot();
      s.disk = mine.disk;
      s.disk_error = mine.disk_error;
      r.fresh = std::move(s);
      d.last_confirm = std::move(lists);
      d.chain->confirmed = true;
    }
    step(r);
  }

  void send_step(const tl::SendStep& a) {
    Daemon& d = *d_;
    if (!d.chain) throw Failed(fmt::format("SendStep({}) outside a prune", cdp::step_name(a.step)));
    Chain& c = *d.chain;
    if (d.confirm_out || d.step_out) throw Failed("SendStep while another request is in flight");
    if (!c.confirmed) throw Failed("SendStep before the confirming lists were read");
    if (d.stop_sent) throw Failed("SendStep after Stop");
    const int k = static_cast<int>(a.step);
    if (k <= c.last_step) throw Failed(fmt::format("SendStep({}) out of order", cdp::step_name(a.step)));
    const bool enabled[] = {config_.prune.containers, config_.prune.images, config_.prune.build_cache};
    if (!enabled[k]) throw Failed(fmt::format("SendStep({}) for a disabled step", cdp::step_name(a.step)));
    if (a.dry_run != c.dry_run)
      throw Failed(fmt::format("SendStep dry_run={} in a prune that started with dry_run={}", a.dry_run, c.dry_run));
    // The invariant the confirming read exists for: nothing that was live (or converging,
    // not stuck) when the lists were read may still be so when a step goes out.
    world_->refresh(wall(), config_.gates.stuck_after);
    for (const auto& [stack, ep] : world_->live_runs()) {
      auto it = c.runs_at_read.find(stack);
      if (it != c.runs_at_read.end() && it->second == ep)
        throw Failed(fmt::format("prune step {} sent while run stack {} is live, as it was when the confirming lists "
                                 "were read at t={}", cdp::step_name(a.step), stack, clock(c.read_at)));
    }
    for (const auto& [sid, ep] : world_->unconverged()) {
      auto it = c.unconv_at_read.find(sid);
      if (it != c.unconv_at_read.end() && it->second == ep)
        throw Failed(fmt::format("prune step {} sent while service {} is unconverged (not stuck), as it was when the "
                                 "confirming lists were read at t={}", cdp::step_name(a.step), world_->service_name(sid), clock(c.read_at)));
    }
    c.last_step = k;
    c.sent_any = true;
    d.step_out = a.step;
    ++stats_.steps_sent;
    if (a.dry_run) {
      // Dry-run lists the candidates and sends nothing: the world's engine is not called.
      cdp::StepResult r;
      r.step = a.step;
      r.outcome = cdp::StepResult::Outcome::dry_run;
      schedule(now_ + rng_.range(1, 300), in_daemon([this, r] { answer_step(r); }));
      return;
    }
    world_->prune(a.step, in_daemon_result([this](cdp::StepResult r) { answer_step(r); }));
  }

  std::function<void(cdp::StepResult)> in_daemon_result(std::function<void(cdp::StepResult)> fn) {
    // An answer to an exited daemon is lost (the step still ran in Docker: an orphan).
    return [this, inc = d_->inc, fn = std::move(fn)](cdp::StepResult r) {
      if (d_ && d_->inc == inc && !d_->finished) fn(r);
    };
  }

  void answer_step(cdp::StepResult r) {
    Daemon& d = *d_;
    if (!d.step_out || *d.step_out != r.step) throw Failed("a step answer nobody asked for");
    d.step_out.reset();
    using O = cdp::StepResult::Outcome;
    if (r.outcome == O::deferred) {
      ++stats_.deferred;
      last_trouble_ = now_;
    }
    if (r.outcome == O::failed) last_trouble_ = now_;
    if (r.outcome == O::done || r.outcome == O::failed) d.chain->sent_real = true;
    // The manager re-reads the disk after a step, before handing the answer in.
    read_disk();
    const std::uint64_t inc = d.inc;
    step(tl::StepFinished{r});
    // Crash right after a step finished (its actions, Persist included, carried out).
    if (d_ && d_->inc == inc && !d_->finished && rng_.chance(0.06)) exit_daemon("crash after a step", kRestartSec + rng_.range(0, 3 * kSec));
  }

  void end_chain() {
    Daemon& d = *d_;
    const Chain c = *d.chain;
    d.chain.reset();
    d.last_end = now_;
    if (c.sent_real) {
      if (!persist_seen_) throw Failed("a prune that sent a step ended without Persist (the state file would miss it)");
      last_sent_end_ = now_;
      last_real_end_ = now_;
    }
  }

  void exit_daemon(const std::string& why, Ms restart_after) {
    note(fmt::format("daemon #{} exits ({}), restarts in {} ms", d_->inc, why, restart_after));
    // An interrupted prune is over as far as the checker can tell (its step may still run
    // in Docker: the engine answers a second one of the same kind with 409).
    d_->finished = true;
    d_.reset();
    ++stats_.daemon_restarts;
    schedule(now_ + restart_after, [this] { start_daemon(); });
  }

  // ------------------------------------------------------------------ daemon-side faults

  void daemon_fault() {
    const int roll = static_cast<int>(rng_.range(0, 99));
    if (roll < 35) {
      static const StreamMode modes[] = {StreamMode::delay, StreamMode::drop, StreamMode::replay, StreamMode::stall};
      set_stream_mode(modes[rng_.range(0, 3)]);
      schedule(now_ + rng_.range(kSec, 10 * kMin), [this] { set_stream_mode(StreamMode::normal); });
    } else if (roll < 45) {
      if (d_ && d_->session) end_session("the stream ended mid-line (truncated)");
    } else if (roll < 55) {
      const bool back = rng_.chance(0.5) && opt_.wall_back;
      const Ms step = back ? -rng_.range(kSec, 3 * 60 * kMin) : rng_.range(kSec, 3 * 60 * kMin);
      wall_offset_ += step;
      note(fmt::format("fault: wall clock stepped {} s", step / 1000));
    } else if (roll < 65) {
      if (d_) exit_daemon("crash", kRestartSec + rng_.range(0, 3 * kSec));
    } else if (roll < 73) {
      if (d_ && !d_->stop_sent) {
        d_->stop_sent = true;
        note("fault: SIGTERM");
        step(tl::Stop{});
      }
    } else if (roll < 85) {
      if (d_ && !d_->stop_sent) {
        const std::uint64_t id = ++requests_;
        d_->replies.insert(id);
        const bool ignore_disk = rng_.chance(0.3);
        note(fmt::format("fault: PruneNow({}, ignore_disk={})", id, ignore_disk));
        step(tl::PruneNow{id, ignore_disk});
      }
    } else if (roll < 92) {
      if (d_ && !d_->stop_sent) {
        if (rng_.chance(0.5)) config_.prune.dry_run = !config_.prune.dry_run;
        last_reload_ = now_;
        note(fmt::format("fault: reload (dry_run {})", config_.prune.dry_run));
        step(tl::Reload{});
      }
    } else {
      world_->dockerd_restart(rng_.range(500, 20 * kSec));
    }
    if (d_ && d_->finished) d_.reset();
    schedule(now_ + rng_.range(10 * kSec, 8 * kMin), [this] { daemon_fault(); });
  }

  // ------------------------------------------------------------------ liveness

  // Why the world is not "quiet" (empty when it is): SPEC's liveness precondition made
  // concrete. Quiet = the daemon runs and is connected, events flow and nothing was lost
  // since the last list, Docker answers and its swarm is sound, no run stack is live,
  // every service converged, the disk is over the threshold, no other prune runs in the
  // engine, no prune of ours is on its way, no 409/failure in the last 30 s.
  std::string quiet_reason() const {
    if (!d_ || d_->finished || d_->stop_sent) return "daemon down";
    const Daemon& d = *d_;
    if (!d.session) return "not connected";
    if (stream_mode_ != StreamMode::normal || d.in_pipe > 0 || d.lossy) return "events not flowing";
    if (!world_->reachable() || world_->locked || world_->quorum_lost) return "docker faulty";
    if (!world_->live_runs().empty()) return "run live";
    if (!world_->all_converged_strict()) return "unconverged";
    if (world_->disk_percent() < config_.disk.threshold_percent) return "disk under";
    if (world_->prune_running() || world_->prune_mode != World::PruneMode::normal) return "engine busy";
    if (d.chain && d.chain->sent_any) return "pruning";
    if (now_ < last_trouble_ + kRetryHold) return "retry hold";
    return "";
  }

  void track_quiet() {
    const bool quiet = quiet_reason().empty();
    if (!quiet || (quiet_since_ && *quiet_since_ < last_reload_)) {
      quiet_since_.reset();
      if (!quiet) return;
    }
    if (quiet_since_) return;
    quiet_since_ = now_;
    const Ms floor_or_cooldown = std::max<Ms>(10 * kSec, std::chrono::duration_cast<std::chrono::milliseconds>(config_.prune.cooldown).count());
    const Ms bound = std::chrono::duration_cast<std::chrono::milliseconds>(config_.gates.settle).count() + floor_or_cooldown +
                     opt_.liveness_slack_ms;
    const Ms since = now_;
    schedule(now_ + bound + 1, [this, since, bound] {
      if (!quiet_since_ || *quiet_since_ != since) {
        ++stats_.liveness_met;
        return;
      }
      if (!quiet_reason().empty()) return;
      throw Failed(fmt::format("liveness: quiet since t={} with the disk over the threshold, and no prune step within "
                               "settle + max(cooldown, 10 s) + {} ms = {} ms", clock(since), opt_.liveness_slack_ms, bound));
    });
  }

  // ------------------------------------------------------------------ state
  Options opt_;
  Rng rng_;
  cdp::Config config_;
  std::unique_ptr<World> world_;
  std::priority_queue<Item, std::vector<Item>, Later> agenda_;
  std::uint64_t seq_ = 0;
  Ms now_ = 0;
  Ms wall_offset_ = 0;
  std::unique_ptr<Daemon> d_;
  std::uint64_t incarnations_ = 0, streams_ = 0, requests_ = 0;
  std::optional<tl::LastPrune> state_file_;
  StreamMode stream_mode_ = StreamMode::normal;
  std::deque<cdp::docker::Event> history_;
  // checker memory that outlives a daemon
  Ms last_sent_end_ = -60 * kMin, last_real_end_ = -600 * kMin;
  Ms last_trouble_ = -60 * kMin, last_reload_ = 0;
  bool persist_seen_ = false;  // Persist carried out in the current step
  std::optional<Ms> quiet_since_;
  Stats stats_;
  std::deque<std::string> trace_;
  std::string last_world_action_;
  std::optional<tl::View> last_view_;
};

}  // namespace

Result run_trace(const Options& options) { return Sim(options).run(); }

}  // namespace sim
