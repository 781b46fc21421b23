// The scheduler around the pure core: after every model change (coalesced) and at the
// decision's wake-up time, decide(); report gate changes, STATUS, D-Bus; start one prune
// when the decision says so, re-checking the gates on the live model before each step.
// Must not evaluate gates itself (policy/) or build prune requests (prune/).
#include <spdlog/spdlog.h>

#include "manager.hpp"
#include "policy/gates.hpp"
#include "prune/executor.hpp"
#include "report/journal.hpp"
#include "report/notify.hpp"
#include "report/status_line.hpp"
#include "util/duration.hpp"

namespace cdp {

namespace {
// SPEC: a 409 "a prune operation is already running" defers the step; try again later.
constexpr auto kDeferredRetry = std::chrono::seconds(30);
// SPEC: blocked over an hour by one gate -> warn, at most hourly.
constexpr auto kBlockedLong = std::chrono::hours(1);

std::uint64_t epoch_us(std::optional<TimePoint> t) {
  if (!t) return 0;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count();
  return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}

std::optional<TimePoint> earlier(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

std::string disk_percent(const Snapshot& snap) {
  return snap.disk ? fmt::format("{:.1f}", snap.disk->percent()) : std::string();
}
}  // namespace

void Manager::changed() {
  if (eval_posted_ || finished_) return;
  eval_posted_ = true;
  // Posted, so a burst of events (a list, a stack teardown) costs one decision.
  asio::post(ex_, [this] {
    eval_posted_ = false;
    if (!finished_) evaluate();
  });
}

void Manager::evaluate() {
  const TimePoint now = Clock::now();
  const Snapshot snap = model_.snapshot();
  const Decision d = decide(snap, config_, now, memory_);
  memory_ = remember(memory_, d.report, now);
  report_gates(d, snap);
  check_blocked_long(d, now);
  publish(d, snap, now);

  std::optional<TimePoint> wake = d.wake_at;
  if (d.prune_now && !stopping_ && first_attempt_done_) {
    if (retry_not_before_ && now < *retry_not_before_) wake = earlier(wake, retry_not_before_);
    else start_prune(false, false, {});
  }
  for (const auto& since : blocking_since_) {
    if (!since) continue;
    TimePoint next = *since + kBlockedLong;
    if (last_blocked_long_) next = std::max(next, *last_blocked_long_ + kBlockedLong);
    wake = earlier(wake, next);
  }
  arm_wake(wake);
}

void Manager::arm_wake(std::optional<TimePoint> at) {
  if (!at) {
    eval_timer_.cancel();
    return;
  }
  const auto delay = *at - Clock::now();
  // +1 ms: never wake a hair before the instant the decision asked for (no spin).
  eval_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(delay) + std::chrono::milliseconds(1));
  eval_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) changed();
  });
}

void Manager::report_gates(const Decision& d, const Snapshot& snap) {
  std::array<bool, 4> open{};
  for (std::size_t i = 0; i < open.size(); ++i) open[i] = d.report.gates[i].open;
  for (std::size_t i = 0; i < open.size(); ++i) {
    if (last_gates_ && (*last_gates_)[i] == open[i]) continue;
    const auto& g = d.report.gates[i];
    journal::event(spdlog::level::info, "gate",
                   {{"CDP_GATE", gate_name(g.id)}, {"CDP_OPEN", open[i] ? "1" : "0"},
                    {"CDP_DISK_PERCENT", disk_percent(snap)}},
                   fmt::format("Gate {} {}: {}", gate_name(g.id), open[i] ? "open" : "closed", g.reason));
  }
  last_gates_ = open;
}

void Manager::check_blocked_long(const Decision& d, TimePoint now) {
  const bool disk_over = d.report.gate(GateId::disk).open;
  const GateVerdict* worst = nullptr;
  for (GateId id : {GateId::runs, GateId::converge}) {
    auto& since = blocking_since_[static_cast<int>(id)];
    const auto& g = d.report.gate(id);
    if (!disk_over || g.open) {
      since.reset();
      continue;
    }
    if (!since) since = now;
    if (now - *since > kBlockedLong && (!worst || *since < *blocking_since_[static_cast<int>(worst->id)]))
      worst = &g;
  }
  if (!worst || (last_blocked_long_ && now - *last_blocked_long_ < kBlockedLong)) return;
  last_blocked_long_ = now;
  const auto age = std::chrono::duration_cast<Duration>(now - *blocking_since_[static_cast<int>(worst->id)]);
  journal::event(spdlog::level::warn, "blocked_long",
                 {{"CDP_GATE", gate_name(worst->id)}, {"CDP_OPEN", "0"}},
                 fmt::format("Disk over threshold, but the {} gate has blocked pruning for {}: {}",
                             gate_name(worst->id), format_age(age), worst->reason));
}

void Manager::publish(const Decision& d, const Snapshot& snap, TimePoint now) {
  metrics_->update(metrics_input(d, snap, config_));
  const std::string line = status_line(d, snap, config_, now, last_reclaimed_);
  if (line != last_status_) {
    last_status_ = line;
    notify::status(line);
    spdlog::debug("Status: {}", line);
  }
  if (!bus_) return;
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
  b.last_prune_finished_us = epoch_us(snap.last_prune_finished);
  b.last_prune_reclaimed_bytes = last_reclaimed_.value_or(0);
  b.next_prune_not_before_us = epoch_us(d.next_prune_not_before);
  if (bus_published_ && b == last_bus_) return;
  bus_->publish(b);
  last_bus_ = std::move(b);
  bus_published_ = true;
}

std::optional<std::string> Manager::gate_check(bool manual, bool ignore_disk) {
  if (stopping_) return std::string("daemon stopping");
  const GateReport r = evaluate_gates(model_.snapshot(), config_, Clock::now());
  for (const auto& g : r.gates) {
    if (g.open) continue;
    // PruneNow skips settle and cooldown, never runs/converge (SPEC); --ignore-disk waives disk.
    if (manual && g.id == GateId::cooldown) continue;
    if (manual && ignore_disk && g.id == GateId::disk) continue;
    return fmt::format("{} gate closed: {}", gate_name(g.id), g.reason);
  }
  return std::nullopt;
}

void Manager::start_prune(bool manual, bool ignore_disk, Bus::PruneReply reply) {
  if (memory_.prune_in_flight) {
    if (reply) reply("busy: a prune is already running", 0);
    return;
  }
  const auto why = stopping_ ? std::optional<std::string>("daemon stopping")
                   : !client_ ? std::optional<std::string>("docker unreachable")
                              : (manual ? gate_check(true, ignore_disk) : std::nullopt);
  if (why) {
    if (manual)
      journal::event(spdlog::level::info, "prune_skipped", {}, fmt::format("Prune requested over D-Bus skipped: {}", *why));
    if (reply) reply("skipped: " + *why, 0);
    return;
  }
  memory_.prune_in_flight = true;
  retry_not_before_.reset();
  spawn("prune", prune_job(manual, ignore_disk, std::move(reply)));
  changed();
}

awaitable<void> Manager::prune_job(bool manual, bool ignore_disk, Bus::PruneReply reply) {
  // Copies: a reload during the prune must not change the request half-way.
  const Config::Prune prune = config_.prune;
  docker::Client client = *client_;
  journal::event(spdlog::level::info, "prune_start", {{"CDP_DISK_PERCENT", disk_percent(model_.snapshot())}},
                 fmt::format("Starting the {}prune{} (until {}): {}", prune.dry_run ? "dry-run " : "",
                             manual ? (ignore_disk ? " requested over D-Bus, disk gate waived" : " requested over D-Bus")
                                    : "",
                             prune.until, last_status_));
  GateCheck check = [this, manual, ignore_disk]() -> awaitable<std::optional<std::string>> {
    co_return gate_check(manual, ignore_disk);
  };
  const PruneResult result = co_await run_prune(client, prune, Clock::now(), check);

  const TimePoint now = Clock::now();
  bool attempted = false;
  std::string skipped_why;
  for (const auto& s : result.steps) {
    using O = StepResult::Outcome;
    if (s.outcome == O::disabled) continue;
    if (s.outcome == O::gate_closed) {
      if (skipped_why.empty()) skipped_why = s.detail;
      continue;
    }
    if (s.outcome == O::done || s.outcome == O::dry_run || s.outcome == O::failed) attempted = true;
    journal::event(s.outcome == O::failed ? spdlog::level::warn : spdlog::level::info, "prune_step",
                   {{"CDP_STEP", step_name(s.step)}, {"CDP_RECLAIMED_BYTES", std::to_string(s.reclaimed)}},
                   fmt::format("Prune step {}: {}, {} removed, {}{}{}", step_name(s.step), outcome_name(s.outcome),
                               s.deleted.size(), format_bytes(s.reclaimed), s.detail.empty() ? "" : ": ", s.detail));
  }
  metrics_->prune_finished(count_prune(result, prune.dry_run));
  std::string outcome;
  if (attempted) {
    model_.set_last_prune(now);
    last_reclaimed_ = result.reclaimed;
    journal::event(spdlog::level::info, "prune_done",
                   {{"MESSAGE_ID", journal::kPruneFinishedMessageId},
                    {"CDP_RECLAIMED_BYTES", std::to_string(result.reclaimed)}},
                   fmt::format("Prune finished{}: {} reclaimed; {}", prune.dry_run ? " (dry run, nothing sent)" : "",
                               format_bytes(result.reclaimed), result.summary));
    if (bus_) bus_->emit_prune_finished(result.reclaimed, result.summary);
    outcome = prune.dry_run ? "dry_run" : "pruned";
  } else if (!result.any_deferred) {
    if (skipped_why.empty()) skipped_why = "no step enabled";
    journal::event(spdlog::level::info, "prune_skipped", {}, fmt::format("Prune skipped: {}", skipped_why));
    outcome = "skipped: " + skipped_why;
  }
  if (result.any_deferred) {
    retry_not_before_ = now + kDeferredRetry;
    spdlog::info("Another prune is running in Docker; trying again in {}s", kDeferredRetry.count());
    if (outcome.empty()) outcome = "deferred: another prune is running in Docker";
  }
  memory_.prune_in_flight = false;
  // A fresh settle before the next prune, even with cooldown 0s: no back-to-back loops.
  memory_.all_open_since.reset();

  if (attempted && !prune.dry_run && !stopping_) {
    read_disk();
    const GateReport r = evaluate_gates(model_.snapshot(), config_, now);
    if (r.gate(GateId::disk).open)
      journal::event(spdlog::level::warn, "still_full", {{"CDP_DISK_PERCENT", disk_percent(model_.snapshot())}},
                     fmt::format("Still full after the prune ({}): the rest is image cache (tagged images) or "
                                 "volumes, which this policy keeps",
                                 r.gate(GateId::disk).reason));
  }
  if (reply) reply(outcome, result.reclaimed);
  if (stopping_) {
    finish();
    co_return;
  }
  changed();
}

}  // namespace cdp
