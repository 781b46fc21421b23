// The scheduler around the pure timeline (policy/timeline.hpp): feed it each input with the
// model's snapshot and both clocks, carry out its actions in order, arm its one timer.
// Must not evaluate gates or hold timing rules itself (policy/), nor build prune requests
// (prune/): the steps and the confirming lists go through the PruneApi seam.
#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "report/journal.hpp"
#include "report/status_line.hpp"

namespace cdp {

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
                   if (j.event == "still_full") report_still_full(j);
                   else reporter_->journal(j);
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
             },
             action);
}

// The one place the still_full warning leaves the daemon: its words come from the timeline
// (timeline::still_full_message); a richer account of what the disk holds (/system/df)
// would be read and written here.
void Manager::report_still_full(const timeline::Journal& record) { reporter_->journal(record); }

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
  if (line != last_status_) {
    last_status_ = line;
    reporter_->status(line);
  }
  const Decision& d = view.decision;
  BusState b;
  b.state = state_name(d.state);
  b.docker_connected = snap.docker_connected;
  b.disk_path = snap.disk_path;
  b.disk_used_percent = snap.disk ? snap.disk->percent() : 0;
  b.disk_inodes_used_percent = snap.disk ? snap.disk->inode_percent() : 0;
  b.disk_threshold_percent = config_.disk.threshold_percent;
  for (const auto& g : d.report.gates) b.gates.emplace_back(gate_name(g.id), g.open, g.reason);
  b.live_run_stacks = d.report.live_run_stacks;
  b.unconverged_services = d.report.unconverged_services;
  if (view.last_prune) {
    b.last_prune_finished_us = epoch_us(view.last_prune->wall);
    b.last_prune_reclaimed_bytes = view.last_prune->reclaimed;
  }
  b.next_prune_not_before_us = epoch_us(d.next_prune_not_before);
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
      // The fresh lists through a model of their own: the same mapping (swarm role,
      // services visible, live containers) as the live model's, nothing added by events.
      const Snapshot current = model_.snapshot();
      LiveModel fresh;
      fresh.set_connected(true);
      fresh.set_info(lists->info);
      fresh.set_services(lists->services, clock_->now().wall, fresh.service_generation());
      fresh.set_containers(lists->containers);
      fresh.mark_synced();
      fresh.set_disk_path(current.disk_path);
      if (current.disk) fresh.set_disk(*current.disk);
      else fresh.set_disk(std::unexpected(current.disk_error));
      result.fresh = fresh.snapshot();
      confirmed_ = std::move(*lists);
    }
  }
  if (stopping_ && finished_) co_return;
  feed(result);
}

void Manager::adopt_confirmed() {
  if (!confirmed_) return;
  model_.set_info(confirmed_->info);
  model_.set_services(confirmed_->services, clock_->now().wall, model_.service_generation());
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
  timeline_ = timeline::restore(last, same_boot, clock_->now());
  if (timeline_.last_prune)
    spdlog::info("Last prune {:%Y-%m-%dT%H:%M:%SZ} ({}, {}), from {}",
                 fmt::gmtime(Clock::to_time_t(timeline_.last_prune->wall)), timeline_.last_prune->outcome,
                 format_bytes(timeline_.last_prune->reclaimed), state_file_.path());
}

}  // namespace cdp
