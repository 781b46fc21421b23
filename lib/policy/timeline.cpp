// The scheduler's rules as one pure transition (timeline.hpp). Gate verdicts and the
// settle rule come from decide() (decision.cpp); this file adds what happens over time:
// holds, the prune's phases, and the warnings. No I/O, no clock, no logging.
#include "policy/timeline.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/bytes.hpp"
#include "util/duration.hpp"

namespace cdp::timeline {

namespace {

// decide() and the gates' times work in the wall frame (Docker's timestamps are wall
// times); the gates get both clocks and measure the observation spacing on the monotonic
// one. A monotonic instant is projected into the wall frame at the moment of the step: its
// distance from now is what the monotonic clock says, whatever the wall clock did.
TimePoint to_wall(SteadyTime t, Now now) {
  return now.wall + std::chrono::duration_cast<Clock::duration>(t - now.mono);
}
SteadyTime to_mono(TimePoint t, Now now) {
  return now.mono + std::chrono::duration_cast<SteadyTime::duration>(t - now.wall);
}
std::optional<TimePoint> to_wall(std::optional<SteadyTime> t, Now now) {
  if (!t) return std::nullopt;
  return to_wall(*t, now);
}

void earliest(std::optional<SteadyTime>& slot, std::optional<SteadyTime> t) {
  if (t && (!slot || *t < *slot)) slot = t;
}

Duration since(SteadyTime from, Now now) {
  return std::chrono::duration_cast<Duration>(now.mono - from);
}

std::string disk_percent(const Snapshot& snap) {
  return snap.disk ? fmt::format("{:.1f}", snap.disk->percent()) : std::string();
}

// The snapshot as the gates must see it: the last prune where the monotonic clock puts it.
Snapshot projected(const TimelineState& s, const Snapshot& snap, Now now) {
  Snapshot p = snap;
  p.last_prune_finished = s.last_prune ? std::optional<TimePoint>(to_wall(s.last_prune->mono, now)) : std::nullopt;
  return p;
}

// The instant before which no automatic prune starts, beyond the gates.
std::optional<SteadyTime> hold_until(const TimelineState& s, const Config& config) {
  std::optional<SteadyTime> h;
  // SPEC: automatic prunes at least 10 s apart, end to start, whatever the cooldown says.
  if (s.last_any_end) h = *s.last_any_end + kFloor;
  auto later = [&](std::optional<SteadyTime> t) {
    if (t && (!h || *t > *h)) h = t;
  };
  later(s.retry_at);
  // Dry-run starts no cooldown, but re-listing every settle would flood the journal: a
  // dry-run repeats at most once a cooldown, and only while dry-run stays on.
  if (config.prune.dry_run) later(s.dry_run_hold);
  return h;
}

// The reason a prune must not go on with this report, or nullopt. PruneNow and the steps
// after the first check disk (unless waived), runs and converge; never settle/cooldown.
std::optional<std::string> closed_gate(const GateReport& r, bool ignore_disk) {
  for (GateId id : {GateId::disk, GateId::runs, GateId::converge}) {
    if (id == GateId::disk && ignore_disk) continue;
    const auto& g = r.gate(id);
    if (!g.open) return fmt::format("{} gate closed: {}", gate_name(id), g.reason);
  }
  return std::nullopt;
}

Journal record(Severity sev, std::string event, Fields fields, std::string message) {
  return Journal{sev, std::move(event), std::move(fields), std::move(message)};
}

class Stepper {
 public:
  Stepper(const TimelineState& s, const Snapshot& snap, const Config& config, Now now)
      : t_{s, {}, std::nullopt}, snap_(snap), config_(config), now_(now) {}

  Transition run(const Input& input) {
    if (t_.state.finished) return std::move(t_);
    std::visit([this](const auto& in) { on(in); }, input);
    evaluate();
    if (s().stopping && !s().prune && !s().finished) {
      s().finished = true;
      t_.actions.emplace_back(Finish{});
      t_.wake_at.reset();
    }
    return std::move(t_);
  }

 private:
  TimelineState& s() { return t_.state; }
  void act(Action a) { t_.actions.push_back(std::move(a)); }
  void reply(std::optional<std::uint64_t> request, std::string outcome, std::uint64_t bytes) {
    if (request) act(Reply{*request, std::move(outcome), bytes});
  }

  void on(const ModelChanged&) {}
  void on(const TimerFired&) {}
  void on(const Reload&) {
    if (!config_.prune.dry_run) s().dry_run_hold.reset();
  }

  void on(const Stop&) {
    s().stopping = true;
    auto& p = s().prune;
    if (p && p->emergency) {
      // A DELETE in flight is finished first (never cancelled, as a prune step); lists
      // being read only are dropped: their answers arrive as strays and are ignored.
      if (!p->emergency->evicting) {
        p->confirming = false;
        p->emergency->listing = false;
        episode_stop(std::nullopt);
      }
      return;
    }
    // Only the confirming lists were asked for: nothing was sent, nothing to finish.
    if (p && p->confirming) abort_prune("daemon stopping");
  }

  void on(const PruneNow& in) {
    if (s().prune) {
      act(Reply{in.request, "busy: a prune is already running", 0});
      return;
    }
    std::optional<std::string> why;
    if (s().stopping) why = "daemon stopping";
    else if (!snap_.docker_connected) why = "docker unreachable";
    else why = closed_gate(evaluate_gates(projected(s(), snap_, now_), config_, now_), in.ignore_disk);
    if (why) {
      act(record(Severity::info, "prune_skipped", {}, fmt::format("Prune requested over D-Bus skipped: {}", *why)));
      act(Reply{in.request, "skipped: " + *why, 0});
      return;
    }
    start_prune(true, in.ignore_disk, in.request);
  }

  void on(const ConfirmResult& in) {
    if (!s().prune || !s().prune->confirming) return;  // stray answer: nothing asked for
    s().prune->confirming = false;
    if (s().prune->emergency) return on_episode_confirm(in);
    if (!in.fresh) {
      s().retry_at = now_.mono + kDeferredRetry;
      abort_prune(fmt::format("Failed to read the confirming lists: {}; trying again in {}", in.error,
                              format_age(kDeferredRetry)));
      return;
    }
    if (auto why = closed_on_fresh(*in.fresh)) {
      abort_prune(*why);
      return;
    }
    const GateReport mr = evaluate_gates(projected(s(), snap_, now_), config_, now_);
    // The disk is not in the lists: the model's reading (re-read by the manager) decides.
    if (!(s().prune->manual && s().prune->ignore_disk) && !mr.gate(GateId::disk).open) {
      abort_prune(fmt::format("disk gate closed: {}", mr.gate(GateId::disk).reason));
      return;
    }
    send_next();
  }

  void on(const StepFinished& in) {
    auto& p = s().prune;
    if (!p || !p->sending || *p->sending != in.result.step) return;  // stray answer
    p->sending.reset();
    const StepResult& r = in.result;
    p->results.push_back(r);
    using O = StepResult::Outcome;
    Fields f{{"CDP_STEP", step_name(r.step)}};
    std::string what = fmt::format("{} removed, {}", r.deleted.size(), format_bytes(r.reclaimed));
    if (r.outcome == O::dry_run) {
      // A dry-run frees nothing: no CDP_RECLAIMED_BYTES, so journal sums stay honest.
      f.emplace_back("CDP_OUTCOME", "dry_run");
      f.emplace_back("CDP_WOULD_FREE_BYTES", std::to_string(r.reclaimed));
      what = fmt::format("would remove {}, would free {}", r.deleted.size(), format_bytes(r.reclaimed));
    } else {
      f.emplace_back("CDP_OUTCOME", outcome_name(r.outcome));
      f.emplace_back("CDP_RECLAIMED_BYTES", std::to_string(r.reclaimed));
    }
    act(record(r.outcome == O::failed ? Severity::warn : Severity::info, "prune_step", std::move(f),
               fmt::format("Prune step {}: {}, {}{}{}", step_name(r.step), outcome_name(r.outcome), what,
                           r.detail.empty() ? "" : ": ", r.detail)));
    // SIGTERM mid-step: that step is finished; no further step is sent.
    if (s().stopping) {
      close_remaining("daemon stopping");
      finish_prune();
      return;
    }
    if (p->results.size() < std::size(kPruneSteps)) {
      const GateReport mr = evaluate_gates(projected(s(), snap_, now_), config_, now_);
      if (auto why = closed_gate(mr, p->manual && p->ignore_disk)) {
        close_remaining(*why);
        finish_prune();
        return;
      }
    }
    send_next();
  }

  // Why the runs or converge gate is closed on the confirming lists, or nullopt. When the
  // model had missed it: AdoptConfirmed and a model_drift warning.
  std::optional<std::string> closed_on_fresh(const Snapshot& fresh_in) {
    // The fresh lists are one observation; the model's older one (>= 1 s before it when
    // the model's converge gate was open) is the other of SPEC's two observations, so a
    // service the model never saw counts as seen once: unconverged.
    Snapshot fresh = fresh_in;
    if (!fresh.services_previous) fresh.services_previous = snap_.services_previous;
    const GateReport fr = evaluate_gates(projected(s(), fresh, now_), config_, now_);
    const GateReport mr = evaluate_gates(projected(s(), snap_, now_), config_, now_);
    std::optional<std::string> why;
    for (GateId id : {GateId::runs, GateId::converge})
      if (!why && !fr.gate(id).open) why = fmt::format("{} gate closed on the fresh lists: {}", gate_name(id), fr.gate(id).reason);
    if (why) {
      const std::string missed = drift(fr, mr);
      if (!missed.empty()) {
        act(AdoptConfirmed{});
        act(record(Severity::warn, "model_drift", {{"CDP_GATE", fr.gate(GateId::runs).open ? "converge" : "runs"}},
                   fmt::format("The live model had missed {}; nothing sent, the model is replaced by the fresh lists",
                               missed)));
      }
    }
    return why;
  }

  // ---- the emergency episode (SPEC "The emergency tier"), inside the prune run ----
  // Per eviction: the model's gates, then StartConfirm -> ConfirmResult (runs, converge on
  // fresh lists), ReadCandidates -> CandidatesRead, emergency::next() picks the least
  // recently used candidate, EvictImage -> EvictFinished (the disk re-read), again. The
  // choice is emergency::next()'s; this only sequences the requests.

  void on(const CandidatesRead& in) {
    auto& p = s().prune;
    if (!p || !p->emergency || !p->emergency->listing) return;  // stray answer
    auto& e = *p->emergency;
    e.listing = false;
    if (!in.verdicts) return episode_stop("the image lists could not be read: " + in.error);
    std::optional<std::string> closed;
    if (!config_.emergency.enabled) closed = "emergency.enabled was turned off by a reload";
    auto next = emergency::next(e.episode, snap_.disk, *in.verdicts, config_.emergency, closed, s().stopping);
    if (const auto* done = std::get_if<emergency::Done>(&next)) return end_episode(*done);
    const auto& ev = std::get<emergency::Evict>(next);
    e.disk_before = snap_.disk;
    e.evicting = ev.candidate;
    act(EvictImage{ev.candidate, ev.dry_run});
  }

  void on(const EvictFinished& in) {
    auto& p = s().prune;
    if (!p || !p->emergency || !p->emergency->evicting) return;  // stray answer
    auto& e = *p->emergency;
    const emergency::Verdict c = *e.evicting;
    e.evicting.reset();
    // `snap_` carries the disk the manager re-read after the DELETE (SPEC: re-read after each).
    act(emergency::record_eviction(e.episode, c, in.outcome, e.disk_before, snap_.disk));
    next_eviction();
  }

  // Right after the prune's steps: starts the episode when the tier is on and the disk is
  // at or over critical_percent (bytes or inodes). false: no episode, the prune ends.
  bool start_episode(bool did_work) {
    if (s().stopping || !snap_.disk) return false;
    auto st = emergency::start(*snap_.disk, config_, s().prune->dry_run);
    if (!st) return false;
    act(std::move(st->record));
    EpisodeInFlight e;
    e.episode = std::move(st->episode);
    e.prune_did_work = did_work;
    s().prune->request.reset();  // the PruneNow call was answered with the prune's outcome
    s().prune->emergency = std::move(e);
    next_eviction();
    return true;
  }

  void next_eviction() {
    if (s().stopping) return episode_stop(std::nullopt);
    if (!config_.emergency.enabled) return episode_stop("emergency.enabled was turned off by a reload");
    // The model first, as before a later prune step: a gate it already shows closed stops
    // the episode without reading anything.
    const GateReport mr = evaluate_gates(projected(s(), snap_, now_), config_, now_);
    for (GateId id : {GateId::runs, GateId::converge})
      if (!mr.gate(id).open) return episode_stop(fmt::format("{} gate closed: {}", gate_name(id), mr.gate(id).reason));
    // Target, max_images and an unreadable disk need no lists: stop before reading any.
    const auto& e = *s().prune->emergency;
    auto next = emergency::next(e.episode, snap_.disk, {}, config_.emergency, std::nullopt, false);
    if (const auto* done = std::get_if<emergency::Done>(&next); done && done->reason != emergency::StopReason::no_candidates)
      return end_episode(*done);
    s().prune->confirming = true;
    act(StartConfirm{});
  }

  void on_episode_confirm(const ConfirmResult& in) {
    if (!in.fresh) return episode_stop("the confirming lists could not be read: " + in.error);
    if (auto why = closed_on_fresh(*in.fresh)) return episode_stop(*why);
    s().prune->emergency->listing = true;
    act(ReadCandidates{});
  }

  // Ends the episode for `gate_closed`, or (nullopt) because the daemon is stopping.
  void episode_stop(const std::optional<std::string>& gate_closed) {
    const auto& e = *s().prune->emergency;
    auto next = emergency::next(e.episode, snap_.disk, {}, config_.emergency, gate_closed, !gate_closed.has_value());
    end_episode(std::get<emergency::Done>(next));
  }

  void end_episode(const emergency::Done& done) {
    const EpisodeInFlight e = *s().prune->emergency;
    for (const auto& j : done.records) {
      if (j.event == "still_full") s().still_full_warned = true;  // one per episode of fullness
      act(j);
    }
    LastEmergency last{now_.wall, e.episode.evicted, e.episode.reclaimed, emergency::stop_reason_name(done.reason),
                       e.episode.dry_run};
    s().last_emergency = last;
    act(PersistEmergency{std::move(last)});
    // The prune and its episode are one prune run: the cooldown and the floor count from
    // the end of the episode (end_prune), a dry-run's hold too.
    if (e.episode.dry_run) {
      s().dry_run_hold = now_.mono + std::max(config_.prune.cooldown, kFloor);
    } else if (s().last_prune) {
      s().last_prune->wall = now_.wall;
      s().last_prune->mono = now_.mono;
      act(Persist{*s().last_prune});
    }
    end_prune();
    if (e.prune_did_work && !s().stopping) warn_still_full();
  }

  // ---- the prune's phases ----

  void start_prune(bool manual, bool ignore_disk, std::optional<std::uint64_t> request) {
    InFlight p;
    p.manual = manual;
    p.ignore_disk = ignore_disk;
    p.request = request;
    p.dry_run = config_.prune.dry_run;
    s().prune = std::move(p);
    s().retry_at.reset();
    act(record(Severity::info, "prune_start", {{"CDP_DISK_PERCENT", disk_percent(snap_)}},
               fmt::format("Starting the {}prune{} (until {}), confirming on fresh lists first",
                           config_.prune.dry_run ? "dry-run " : "",
                           manual ? (ignore_disk ? " requested over D-Bus, disk gate waived" : " requested over D-Bus")
                                  : "",
                           config_.prune.until)));
    act(StartConfirm{});
  }

  // Sends the next enabled step, or finishes when none is left.
  void send_next() {
    auto& p = *s().prune;
    while (p.results.size() < std::size(kPruneSteps)) {
      const PruneStep step = kPruneSteps[p.results.size()];
      if (!step_enabled(config_.prune, step)) {
        p.results.push_back(StepResult{step, StepResult::Outcome::disabled, {}, 0, {}});
        continue;
      }
      p.sending = step;
      p.step_started = now_.mono;
      p.slow_reported = false;
      act(SendStep{step, p.dry_run});
      return;
    }
    finish_prune();
  }

  void close_remaining(const std::string& why) {
    auto& p = *s().prune;
    while (p.results.size() < std::size(kPruneSteps)) {
      const PruneStep step = kPruneSteps[p.results.size()];
      const bool on = step_enabled(config_.prune, step);
      p.results.push_back(StepResult{step, on ? StepResult::Outcome::gate_closed : StepResult::Outcome::disabled,
                                     {}, 0, on ? why : std::string()});
    }
  }

  // Nothing was sent (confirm disagreed or failed, stop while confirming).
  void abort_prune(const std::string& why) {
    act(record(Severity::info, "prune_skipped", {}, fmt::format("Prune skipped, nothing sent: {}", why)));
    reply(s().prune->request, "skipped: " + why, 0);
    end_prune();
  }

  void end_prune() {
    s().prune.reset();
    s().last_any_end = now_.mono;
    // A fresh settle before the next prune, even with cooldown 0s.
    s().all_open_since.reset();
  }

  void finish_prune() {
    const InFlight p = *s().prune;
    using O = StepResult::Outcome;
    bool sent = false, any_done = false, all_failed = true, any_deferred = false, any_dry = false, incomplete = false;
    std::uint64_t bytes = 0;
    std::string first_skip;
    for (const auto& r : p.results) {
      bytes += r.reclaimed;
      if (r.outcome == O::done || r.outcome == O::failed) sent = true;
      if (r.outcome == O::done) any_done = true;
      if (r.outcome == O::done || r.outcome == O::dry_run) all_failed = false;
      if (r.outcome == O::deferred) any_deferred = incomplete = true;
      if (r.outcome == O::dry_run) any_dry = true;
      if (r.outcome == O::gate_closed) {
        incomplete = true;
        if (first_skip.empty()) first_skip = r.detail;
      }
    }
    const std::string summary = summarize_steps(p.results);
    if (any_deferred) s().retry_at = now_.mono + kDeferredRetry;

    if (sent) {
      const std::string outcome = all_failed ? "failed" : incomplete || !any_done ? "partial" : "pruned";
      s().last_prune = LastPrune{now_.wall, now_.mono, outcome, bytes};
      act(record(all_failed ? Severity::warn : Severity::info, "prune_done",
                 {{"MESSAGE_ID", kPruneFinishedMessageId},
                  {"CDP_OUTCOME", outcome},
                  {"CDP_RECLAIMED_BYTES", std::to_string(bytes)}},
                 fmt::format("Prune finished ({}): {} reclaimed; {}", outcome, format_bytes(bytes), summary)));
      act(PruneFinishedSignal{bytes, summary});
      act(Persist{*s().last_prune});
      reply(p.request, outcome, bytes);
      // The episode speaks for the disk (its own still_full); the prune's comes after it.
      if (start_episode(any_done)) return;
      end_prune();
      if (any_done && !s().stopping) warn_still_full();
      return;
    }
    if (any_dry) {
      // SPEC: dry-run reports what it would free as such, no MESSAGE_ID, no cooldown.
      s().last_dry_run_would_free = bytes;
      s().dry_run_hold = now_.mono + std::max(config_.prune.cooldown, kFloor);
      act(record(Severity::info, "prune_done",
                 {{"CDP_OUTCOME", "dry_run"}, {"CDP_WOULD_FREE_BYTES", std::to_string(bytes)}},
                 fmt::format("Dry run finished, nothing sent: would free {}; {}", format_bytes(bytes), summary)));
      reply(p.request, "dry_run", bytes);
      if (start_episode(false)) return;
      end_prune();
      return;
    }
    if (any_deferred) {
      act(record(Severity::info, "prune_skipped", {{"CDP_OUTCOME", "deferred"}},
                 fmt::format("Prune deferred: another prune is running in Docker; trying again in {}",
                             format_age(kDeferredRetry))));
      reply(p.request, "deferred: another prune is running in Docker", 0);
      end_prune();
      return;
    }
    const std::string why = first_skip.empty() ? "no step enabled" : first_skip;
    act(record(Severity::info, "prune_skipped", {}, fmt::format("Prune skipped: {}", why)));
    reply(p.request, "skipped: " + why, 0);
    end_prune();
  }

  // SPEC: after a prune that leaves the disk over threshold, one still_full per episode.
  void warn_still_full() {
    const GateReport after = evaluate_gates(projected(s(), snap_, now_), config_, now_);
    if (after.gate(GateId::disk).open && !s().still_full_warned) {
      s().still_full_warned = true;
      act(record(Severity::warn, "still_full", {{"CDP_DISK_PERCENT", disk_percent(snap_)}},
                 still_full_message(snap_, after)));
    }
  }

  // What the fresh lists show that the model did not: "live run stack X not in the model".
  static std::string drift(const GateReport& fresh, const GateReport& model) {
    std::vector<std::string> parts;
    for (const auto& st : fresh.live_run_stacks)
      if (std::find(model.live_run_stacks.begin(), model.live_run_stacks.end(), st) == model.live_run_stacks.end())
        parts.push_back(fmt::format("live run stack {} not in the model", st));
    for (const auto& sv : fresh.unconverged_services)
      if (std::find(model.unconverged_services.begin(), model.unconverged_services.end(), sv) ==
          model.unconverged_services.end())
        parts.push_back(fmt::format("service {} converging, not in the model", sv));
    if (parts.empty()) {
      // Closed on the fresh lists for a reason the model does not show by name.
      for (GateId id : {GateId::runs, GateId::converge})
        if (!fresh.gate(id).open && model.gate(id).open)
          parts.push_back(fmt::format("{} gate: {}", gate_name(id), fresh.gate(id).reason));
    }
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
  }

  // ---- after every input: decide, report, maybe start, arm the timer ----

  void evaluate() {
    if (s().finished) return;
    const Snapshot snap = projected(s(), snap_, now_);
    SchedulerMemory m;
    m.all_open_since = to_wall(s().all_open_since, now_);
    m.prune_in_flight = s().prune.has_value();
    m.not_before = to_wall(hold_until(s(), config_), now_);
    Decision d = decide(snap, config_, now_, m);
    if (d.report.all_open()) {
      if (!s().all_open_since) s().all_open_since = now_.mono;
    } else {
      s().all_open_since.reset();
    }
    report_gates(d, snap);
    blocked_long(d);
    prune_slow();

    if (d.prune_now && !s().stopping && !s().prune) {
      start_prune(false, false, std::nullopt);
      d.state = State::pruning;
      d.wake_at.reset();
    }
    if (d.wake_at) earliest(t_.wake_at, to_mono(*d.wake_at, now_));
    publish(std::move(d));
  }

  void report_gates(const Decision& d, const Snapshot& snap) {
    std::array<bool, 4> open{};
    for (std::size_t i = 0; i < open.size(); ++i) open[i] = d.report.gates[i].open;
    for (std::size_t i = 0; i < open.size(); ++i) {
      if (s().last_gates && (*s().last_gates)[i] == open[i]) continue;
      const auto& g = d.report.gates[i];
      act(record(Severity::info, "gate",
                 {{"CDP_GATE", gate_name(g.id)}, {"CDP_OPEN", open[i] ? "1" : "0"}, {"CDP_DISK_PERCENT", disk_percent(snap)}},
                 fmt::format("Gate {} {}: {}", gate_name(g.id), open[i] ? "open" : "closed", g.reason)));
    }
    s().last_gates = open;
    // An episode of "still full" ends when the disk gate closes (SPEC: once per episode).
    if (!open[0]) s().still_full_warned = false;
  }

  // SPEC: over threshold and one gate has blocked for over an hour -> warn, at most hourly.
  void blocked_long(const Decision& d) {
    const bool disk_over = d.report.gate(GateId::disk).open;
    const GateId ids[2] = {GateId::runs, GateId::converge};
    int worst = -1;
    for (int i = 0; i < 2; ++i) {
      auto& since = s().blocking_since[i];
      if (!disk_over || d.report.gate(ids[i]).open) {
        since.reset();
        continue;
      }
      if (!since) since = now_.mono;
      if (now_.mono - *since > kBlockedLong && (worst < 0 || *since < *s().blocking_since[worst])) worst = i;
    }
    const auto& last = s().last_blocked_long;
    if (worst >= 0 && (!last || now_.mono - *last >= kBlockedLong)) {
      s().last_blocked_long = now_.mono;
      const auto& g = d.report.gate(ids[worst]);
      act(record(Severity::warn, "blocked_long", {{"CDP_GATE", gate_name(g.id)}, {"CDP_OPEN", "0"}},
                 fmt::format("Disk over threshold, but the {} gate has blocked pruning for {}: {}", gate_name(g.id),
                             format_age(since(*s().blocking_since[worst], now_)), g.reason)));
    }
    for (const auto& b : s().blocking_since) {
      if (!b) continue;
      // 1 ms past the hour: "over an hour" is then true when the timer fires.
      SteadyTime next = *b + kBlockedLong + Duration(1);
      if (s().last_blocked_long) next = std::max(next, *s().last_blocked_long + kBlockedLong);
      earliest(t_.wake_at, next);
    }
  }

  // SPEC: a step still running after 10 minutes logs one prune_slow; never cancelled.
  void prune_slow() {
    auto& p = s().prune;
    if (!p || !p->sending || p->slow_reported) return;
    const SteadyTime at = p->step_started + kPruneSlow;
    if (now_.mono < at) {
      earliest(t_.wake_at, at);
      return;
    }
    p->slow_reported = true;
    act(record(Severity::warn, "prune_slow", {{"CDP_STEP", step_name(*p->sending)}},
               fmt::format("Prune step {} has been running for {}; Docker is still working on it, it is not "
                           "cancelled (a prune request is never cancelled once sent)",
                           step_name(*p->sending), format_age(since(p->step_started, now_)))));
  }

  void publish(Decision d) {
    View v;
    v.decision = std::move(d);
    v.dry_run = config_.prune.dry_run;
    v.last_prune = s().last_prune;
    v.last_dry_run_would_free = s().last_dry_run_would_free;
    v.emergency_enabled = config_.emergency.enabled;
    v.emergency_running = s().prune && s().prune->emergency;
    v.last_emergency = s().last_emergency;
    if (s().prune && s().prune->sending) {
      v.running_step = s().prune->sending;
      v.running_for = since(s().prune->step_started, now_);
      v.running_slow = v.running_for >= kPruneSlow;
      // STATUS says how long a slow step has run: refresh it each minute while slow.
      if (v.running_slow) earliest(t_.wake_at, now_.mono + std::chrono::minutes(1));
    }
    act(Publish{std::move(v)});
  }

  Transition t_;
  const Snapshot& snap_;
  const Config& config_;
  const Now now_;
};

}  // namespace

Transition step(const TimelineState& state, const Snapshot& snap, const Config& config, Now now,
                const Input& input) {
  return Stepper(state, snap, config, now).run(input);
}

TimelineState restore(const std::optional<LastPrune>& persisted, bool same_boot, Now now) {
  TimelineState s;
  if (!persisted) return s;
  LastPrune last = *persisted;
  // Wall time elapsed since, never negative: a clock stepped back counts as "just now",
  // which can only lengthen the cooldown.
  const auto elapsed = std::max(Clock::duration::zero(), now.wall - persisted->wall);
  SteadyTime mono = now.mono - std::chrono::duration_cast<SteadyTime::duration>(elapsed);
  // In the same boot the persisted monotonic instant is exact; take the later of the two
  // so a wall clock stepped forward cannot shorten it either.
  if (same_boot) mono = std::max(mono, persisted->mono);
  last.mono = std::min(mono, now.mono);
  s.last_prune = last;
  s.last_any_end = last.mono;
  return s;
}

std::string still_full_message(const Snapshot& snap, const GateReport& after) {
  (void)snap;
  return fmt::format(
      "Still full after the prune ({}): the rest is image cache (tagged images), volumes, objects younger than "
      "prune.until or data outside Docker, which this policy keeps; warned once until the disk drops below the "
      "threshold",
      after.gate(GateId::disk).reason);
}

}  // namespace cdp::timeline
