// The scheduler around the pure timeline (policy/timeline.hpp): feed it each input with the
// model's snapshot and both clocks, carry out its actions in order, arm its one timer.
// Must not evaluate gates or hold timing rules itself (policy/), nor build prune requests
// (prune/): the steps and the confirming lists go through the PruneApi seam.
#include <cmath>
#include <cstdlib>

#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "report/health.hpp"
#include "report/journal.hpp"
#include "report/status_line.hpp"
#include "util/duration.hpp"

namespace cdp {

// State file key: when a live run stack first matched gates.run_stacks (µs since epoch).
constexpr const char* kRunStackSeenKey = "run_stack_seen_at";

namespace {

std::uint64_t epoch_us(std::optional<TimePoint> t) {
  if (!t) return 0;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count();
  return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

namespace {
std::string field(const timeline::Journal& j, std::string_view key);  // below
}  // namespace

void Manager::changed() {
  if (eval_posted_ || finished_) return;
  eval_posted_ = true;
  // Posted, so a burst of events (a list, a stack teardown) costs one step of the timeline.
  asio::post(ex_, [this] {
    eval_posted_ = false;
    if (!finished_) feed(timeline::ModelChanged{});
  });
}

void Manager::feed(const timeline::Input& input) {
  if (finished_ || timeline_.finished) return;
  const Now now = clock_->now();
  const Snapshot snap = model_.snapshot();
  timeline::Transition t = timeline::step(timeline_, snap, config_, now, input);
  timeline_ = std::move(t.state);
  for (const auto& a : t.actions) carry_out(a, snap, now);
  if (!finished_) arm_wake(t.wake_at);
}

void Manager::carry_out(const timeline::Action& action, const Snapshot& snap, Now now) {
  std::visit(Overloaded{
                 [&](const timeline::StartConfirm&) { spawn("confirm", confirm_job()); },
                 [&](const timeline::AdoptConfirmed&) { adopt_confirmed(); },
                 [&](const timeline::SendStep& s) { spawn("prune", step_job(s.step, s.dry_run)); },
                 [&](const timeline::Journal& j) {
                   count_for_metrics(j);
                   // The emergency tier's still_full names what it kept (its own split).
                   if (j.event == "still_full" && field(j, "CDP_TIER").empty()) report_still_full(j);
                   else reporter_->journal(j);
                   if (j.event == "still_full" && !field(j, "CDP_TIER").empty()) still_full_ = j.message;
                 },
                 [&](const timeline::Publish& p) { publish(p.view, snap, now); },
                 [&](const timeline::PruneFinishedSignal& p) { reporter_->prune_finished(p.reclaimed, p.summary); },
                 [&](const timeline::Persist& p) { persist(p.last); },
                 [&](const timeline::Reply& r) {
                   auto it = replies_.find(r.request);
                   if (it == replies_.end()) return;
                   auto reply = std::move(it->second);
                   replies_.erase(it);
                   if (reply) reply(r.outcome, r.reclaimed);
                 },
                 [&](const timeline::Finish&) { finish(); },
                 // The emergency tier's requests (emergency_wiring.cpp)
                 [&](const timeline::ReadCandidates&) { spawn("candidates", emergency_candidates_job()); },
                 [&](const timeline::EvictImage& e) { spawn("evict", emergency_evict_job(e.candidate, e.dry_run)); },
                 [&](const timeline::PersistEmergency& p) { emergency_persist_last(p.last); },
             },
             action);
}

// The one place the still_full warning leaves the daemon: its words come from the timeline
// (timeline::still_full_message); a richer account of what the disk holds (/system/df)
// would be read and written here.
namespace {
std::string field(const timeline::Journal& j, std::string_view key) {
  for (const auto& [k, v] : j.fields)
    if (k == key) return v;
  return {};
}
}  // namespace

// The metrics count what the journal records: steps' bytes add up until the prune's
// prune_done / prune_skipped record, which counts the prune by its CDP_OUTCOME.
void Manager::count_for_metrics(const timeline::Journal& j) {
  if (j.event == "model_drift") {
    metrics_->model_drift();
  } else if (j.event == "emergency_evict") {
    if (field(j, "CDP_OUTCOME") == "removed") metrics_->emergency_eviction();
  } else if (j.event == "prune_step") {
    const std::string bytes = field(j, "CDP_RECLAIMED_BYTES");  // absent for a dry-run
    const std::string step = field(j, "CDP_STEP");
    for (std::size_t i = 0; i < pending_count_.reclaimed_bytes.size(); ++i)
      if (!bytes.empty() && step == step_name(static_cast<PruneStep>(i)))
        pending_count_.reclaimed_bytes[i] += std::strtoull(bytes.c_str(), nullptr, 10);
  } else if (j.event == "prune_done" || j.event == "prune_skipped") {
    std::string outcome = field(j, "CDP_OUTCOME");
    if (outcome.empty()) outcome = j.event == "prune_done" ? "pruned" : "skipped";
    pending_count_.outcome = outcome;
    metrics_->prune_finished(pending_count_);
    pending_count_ = {};
  }
}

// still_full says what the disk holds: ask Docker first (GET /system/df, still_full_job).
void Manager::report_still_full(const timeline::Journal& record) { spawn("still_full", still_full_job(record)); }

void Manager::arm_wake(std::optional<SteadyTime> at) {
  if (!at) {
    eval_timer_.cancel();
    return;
  }
  // +1 ms: never wake a hair before the instant the timeline asked for (no spin).
  eval_timer_.expires_at(*at + std::chrono::milliseconds(1));
  eval_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !finished_) feed(timeline::TimerFired{});
  });
}

void Manager::publish(const timeline::View& view, const Snapshot& snap, Now now) {
  const std::string line = status_line(view, snap, config_, now.wall);
  {
    MetricsInput in = metrics_input(view.decision, snap, config_);
    // The timeline owns the last prune (the model's copy is not kept up to date).
    if (view.last_prune)
      in.last_prune_finished_seconds =
          static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  view.last_prune->wall.time_since_epoch())
                                  .count()) /
          1000;
    metrics_->update(in);
  }
  if (line != last_status_) {
    last_status_ = line;
    reporter_->status(line);
  }
  const Decision& d = view.decision;
  {
    RunStackVerdict rv = watch_run_stacks(run_stack_watch_, d.report, config_.gates.run_stacks, now.mono);
    run_stack_watch_ = rv.state;
    if (rv.newly_matched) {
      auto saved = state_file_.save_value(kRunStackSeenKey, epoch_us(now.wall));
      if (!saved) spdlog::warn("{}", saved.error());
    }
    if (rv.warn) reporter_->journal(timeline::Journal{timeline::Severity::warn, "run_stacks_unmatched", {}, *rv.warn});
  }
  BusState b;
  b.state = state_name(d.state);
  b.docker_connected = snap.docker_connected;
  b.disk_path = snap.disk_path;
  // Unknown is NaN, never 0.0 % (issue 12); `status` shows "unknown" / null.
  b.disk_used_percent = snap.disk ? snap.disk->percent() : std::nan("");
  b.disk_inodes_used_percent = snap.disk ? snap.disk->inode_percent() : std::nan("");
  b.disk_threshold_percent = config_.disk.threshold_percent;
  for (const auto& g : d.report.gates) b.gates.emplace_back(gate_name(g.id), g.open, g.reason);
  b.live_run_stacks = d.report.live_run_stacks;
  b.unconverged_services = d.report.unconverged_services;
  if (view.last_prune) {
    b.last_prune_finished_us = epoch_us(view.last_prune->wall);
    b.last_prune_reclaimed_bytes = view.last_prune->reclaimed;
  }
  b.next_prune_not_before_us = epoch_us(d.next_prune_not_before);
  b.disk_inode_threshold_percent = config_.disk.inode_threshold_percent;
  b.stuck_services = d.report.stuck_services;
  b.config_path = config_file();
  b.config_loaded_at_us = epoch_us(config_loaded_at_);
  b.config_hash = config_hash_;
  b.version = CDP_VERSION;
  b.dry_run = config_.prune.dry_run;
  b.emergency_enabled = config_.emergency.enabled;
  if (view.last_emergency) {
    b.last_emergency_finished_us = epoch_us(view.last_emergency->wall);
    b.last_emergency_evicted = view.last_emergency->evicted;
    b.last_emergency_reclaimed_bytes = view.last_emergency->reclaimed;
    b.last_emergency_ended = view.last_emergency->ended;
    b.last_emergency_dry_run = view.last_emergency->dry_run;
  }
  const bool disk_over = d.report.gate(GateId::disk).open;
  if (!disk_over) still_full_.reset();  // the episode is over
  WarningInputs w;
  w.dry_run = config_.prune.dry_run;
  w.docker_connected = snap.docker_connected;
  w.disk_known = snap.disk.has_value();
  w.disk_over = disk_over;
  w.any_step_enabled = config_.prune.containers || config_.prune.images || config_.prune.build_cache;
  w.still_full = still_full_;
  // blocked_long as the timeline counts it (runs, converge: closed while the disk is over).
  for (GateId id : {GateId::runs, GateId::converge}) {
    const auto& since = timeline_.blocking_since[id == GateId::runs ? 0 : 1];
    if (!since || now.mono - *since <= timeline::kBlockedLong) continue;
    w.blocked_long = fmt::format("the {} gate has blocked pruning for {}: {}", gate_name(id),
                                 format_age(std::chrono::duration_cast<Duration>(now.mono - *since)),
                                 d.report.gate(id).reason);
    break;
  }
  b.warnings = collect_warnings(w);
  if (bus_published_ && b == last_bus_) return;
  reporter_->bus_state(b);
  last_bus_ = std::move(b);
  bus_published_ = true;
}

void Manager::on_prune_now(bool ignore_disk, Bus::PruneReply reply) {
  const std::uint64_t id = next_request_++;
  replies_.emplace(id, std::move(reply));
  feed(timeline::PruneNow{id, ignore_disk});
  // The timeline replies at once or at the prune's end; after Finish nobody will.
  if (finished_) replies_.clear();
}

Snapshot Manager::snapshot_of(const ConfirmLists& lists) const {
  // The fresh lists through a model of their own: the same mapping (swarm role, services
  // visible, live containers) as the live model's, nothing added by events; the disk as
  // the live model last read it.
  const Snapshot current = model_.snapshot();
  LiveModel fresh;
  fresh.set_stack_labels(config_.gates.stack_labels);  // counts, as the live model's snapshots
  fresh.set_connected(true);
  fresh.set_info(lists.info);
  fresh.set_services(lists.services, clock_->now().mono, fresh.service_generation());
  fresh.set_containers(lists.containers);
  fresh.mark_synced();
  fresh.set_disk_path(current.disk_path);
  if (current.disk) fresh.set_disk(*current.disk);
  else fresh.set_disk(std::unexpected(current.disk_error));
  return fresh.snapshot();
}

awaitable<void> Manager::confirm_job() {
  timeline::ConfirmResult result;
  if (!client_) {
    result.error = "docker unreachable";
  } else {
    auto api = prune_api_(*client_);
    auto lists = co_await api->confirm_lists();
    if (!lists) {
      result.error = lists.error().message;
    } else {
      result.fresh = snapshot_of(*lists);
      confirmed_ = std::move(*lists);
    }
  }
  if (stopping_ && finished_) co_return;
  feed(result);
}

void Manager::adopt_confirmed() {
  if (!confirmed_) return;
  model_.set_info(confirmed_->info);
  model_.set_services(confirmed_->services, clock_->now().mono, model_.service_generation());
  model_.set_containers(confirmed_->containers);
  confirmed_.reset();
  conv_wake_.notify();  // the services may be unconverged: poll until they are
  changed();
}

awaitable<void> Manager::step_job(PruneStep step, bool dry_run) {
  // A copy: a reload during the step must not change the request half-way.
  Config::Prune prune = config_.prune;
  prune.dry_run = dry_run;
  StepResult r;
  r.step = step;
  if (!client_) {
    r.outcome = StepResult::Outcome::failed;
    r.detail = "docker unreachable";
  } else {
    auto api = prune_api_(*client_);
    const TimePoint wall = clock_->now().wall;
    auto op = api->prune_step(prune, step, wall);
    r = co_await std::move(op);
  }
  // The disk as the step left it: the next step's gate and still_full read it.
  read_disk();
  feed(timeline::StepFinished{r});
}

void Manager::persist(const timeline::LastPrune& last) {
  auto saved = state_file_.save_last_prune(last, boot_id_);
  if (!saved) spdlog::warn("{}; the cooldown will not survive a restart", saved.error());
}

void Manager::load_state() {
  boot_id_ = current_boot_id();
  auto loaded = state_file_.load();
  if (!loaded) spdlog::warn("{}", loaded.error());
  bool same_boot = false;
  const auto last = state_file_.last_prune(boot_id_, same_boot);
  run_stack_watch_.ever_matched = state_file_.document().contains(kRunStackSeenKey);
  timeline_ = timeline::restore(last, same_boot, clock_->now());
  if (timeline_.last_prune)
    spdlog::info("Last prune {:%Y-%m-%dT%H:%M:%SZ} ({}, {}), from {}",
                 fmt::gmtime(Clock::to_time_t(timeline_.last_prune->wall)), timeline_.last_prune->outcome,
                 format_bytes(timeline_.last_prune->reclaimed), state_file_.path());
}

awaitable<void> Manager::still_full_job(timeline::Journal record) {
  // The timeline's text up to its disk reason ("Still full after the prune (...)") heads
  // the split (report/disk_split.hpp): reclaimable now / later / kept / not Docker.
  const auto cut = record.message.find("):");
  const std::string head = cut == std::string::npos ? record.message : record.message.substr(0, cut + 1);
  const StillFull full = co_await describe_still_full(head);
  if (finished_) co_return;
  still_full_ = full.message;
  record.message = full.message;
  record.fields.emplace_back("MESSAGE_ID", journal::kStillFullMessageId);
  if (full.split) {
    record.fields.emplace_back("CDP_RECLAIMABLE_NOW_BYTES", std::to_string(full.split->now()));
    record.fields.emplace_back("CDP_RECLAIMABLE_LATER_BYTES", std::to_string(full.split->later()));
    record.fields.emplace_back("CDP_KEPT_BYTES", std::to_string(full.split->kept()));
    record.fields.emplace_back("CDP_NOT_DOCKER_BYTES", std::to_string(full.split->not_docker));
  }
  reporter_->journal(record);
  changed();  // the Warnings property names it
}

}  // namespace cdp
