// The daemon's timeline as a pure core: the scheduler's rules (settle, the 10 s floor,
// cooldown, the 409 retry, confirm-before-acting, one step at a time, blocked_long,
// prune_slow, still_full once per episode, dry-run, stop mid-step, and the emergency
// tier's episode after a prune: one eviction at a time, confirmed like a step) as one function
//   step(state, snapshot, config, now, input) -> Transition{state, actions, wake_at}.
// No I/O, no clock, no logging, no exceptions: time, the model and Docker's answers are
// inputs; what to do is the output. The manager (daemon/) carries out the actions.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "model/snapshot.hpp"
#include "policy/decision.hpp"
#include "policy/emergency.hpp"
#include "policy/journal_record.hpp"
#include "policy/prune_step.hpp"
#include "util/time.hpp"

namespace cdp::timeline {

// ---------------------------------------------------------------------------------------
// How to drive it (the daemon does exactly this; a simulation can too):
//
//   TimelineState s = restore(persisted, config, now);   // or TimelineState{} for none
//   loop:
//     Transition t = step(s, model_snapshot, config, now, input);
//     s = t.state;
//     for (action : t.actions) carry it out;        // in order
//     arm ONE timer at t.wake_at (monotonic); when it fires, step(..., TimerFired{})
//
// Inputs answer actions: StartConfirm -> ConfirmResult, SendStep -> StepFinished,
// ReadCandidates -> CandidatesRead, EvictImage -> EvictFinished. Exactly
// one answer per request; until it arrives, the timeline sends no other request.
// `snap` is always the model as it is now (after applying the answer's side effects, e.g.
// the disk re-read after a step). `now` must not go backwards in `mono` between calls.
// ---------------------------------------------------------------------------------------

// Both clocks, read once per step by the caller (util/time.hpp). Every interval (settle,
// floor, cooldown, 409 retry, blocked_long, prune_slow) is measured on `mono`, so a
// wall-clock step opens no gate (SPEC "Never twice, never in a loop"). `wall` is only
// reported and persisted, and handed to the gates for what Docker timestamps in wall time
// (service UpdatedAt).
using Now = cdp::Now;

// ---- Inputs -----------------------------------------------------------------------------
struct ModelChanged {};  // the model or the disk changed (coalesce a burst into one)
struct TimerFired {};    // the timer armed at wake_at fired (early or late is harmless)

// The answer to StartConfirm: fresh GET /info + /services?status=true (on a manager) +
// live containers, made into a Snapshot like the model's: connected, synced, the disk and
// disk_path copied from the model, services_latest = the fresh list and services_previous
// left empty (step() pairs the fresh observation with the model's older one, so a service
// the model never saw counts as unconverged). `fresh` nullopt: a request failed; `error`
// says which and why (nothing is sent; retried after kDeferredRetry).
struct ConfirmResult {
  std::optional<Snapshot> fresh;
  std::string error;
};

// The answer to SendStep. `result.step` names the step; outcome done / failed /
// deferred (409) / dry_run / gate_closed (the executor refused to send), bytes, detail.
struct StepFinished {
  StepResult result;
};

// D-Bus PruneNow(ignore_disk). `request` is the caller's id, echoed in the Reply action.
struct PruneNow {
  std::uint64_t request = 0;
  bool ignore_disk = false;
};

struct Reload {};  // the config passed to this step is the newly loaded one
struct Stop {};    // SIGTERM/SIGINT: finish a step in flight, send no further step, finish

// The emergency tier's answers (SPEC "The emergency tier"). To ReadCandidates: every tagged
// image's verdict (emergency::classify) on images, containers and service specs read just
// now; nullopt: a list failed, `error` says which (unknown means nothing is evicted).
struct CandidatesRead {
  std::optional<std::vector<emergency::Verdict>> verdicts;
  std::string error;
};
// To EvictImage: what Docker answered. `snap` then carries the disk re-read after it.
struct EvictFinished {
  emergency::EvictOutcome outcome;
};

using Input = std::variant<ModelChanged, TimerFired, ConfirmResult, StepFinished, PruneNow, Reload, Stop,
                           CandidatesRead, EvictFinished>;

// ---- Actions ----------------------------------------------------------------------------
// Read the confirming lists (see ConfirmResult) and answer with ConfirmResult.
struct StartConfirm {};
// The confirming lists disagreed with the model: replace the model's containers and
// services by what ConfirmResult carried (the model had missed something).
struct AdoptConfirmed {};
// Send (or, dry-run, list) one prune step and answer with StepFinished. Never cancelled.
struct SendStep {
  PruneStep step = PruneStep::containers;
  bool dry_run = false;
};
// Journal, Severity, Fields: policy/journal_record.hpp.

// The last finished prune, as persisted (state file) and shown (STATUS, D-Bus).
// Dry-runs are not prunes: they never become the LastPrune.
struct LastPrune {
  TimePoint wall{};                // when it finished (wall clock, for people)
  SteadyTime mono{};               // the same instant on the monotonic clock (cooldown)
  std::string outcome;             // "pruned", "failed" (every sent step failed), "partial"
  std::uint64_t reclaimed = 0;
};

// The last emergency episode, as shown (STATUS, D-Bus, `status`) and persisted.
struct LastEmergency {
  TimePoint wall{};        // when it ended
  std::uint64_t evicted = 0;
  std::uint64_t reclaimed = 0;
  std::string ended;       // emergency::stop_reason_name: target_reached, max_images, ...
  bool dry_run = false;
};

// What STATUS, D-Bus and `status` show as of this step (report/ formats it).
struct View {
  Decision decision;                        // state, gate trail, next prune (wall frame)
  bool dry_run = false;                     // prune.dry_run is on: shown in STATUS/D-Bus
  std::optional<LastPrune> last_prune;
  std::optional<std::uint64_t> last_dry_run_would_free;  // the last dry-run's total
  std::optional<PruneStep> running_step;    // the step in flight, if any
  Duration running_for{0};                  // how long it has run (prune_slow: shown)
  bool running_slow = false;                // over 10 min
  bool emergency_enabled = false;           // emergency.enabled
  bool emergency_running = false;           // an episode is under way
  std::optional<LastEmergency> last_emergency;
};
struct Publish {
  View view;
};
// D-Bus signal PruneFinished(t reclaimed_bytes, s summary). Not sent for a dry-run.
struct PruneFinishedSignal {
  std::uint64_t reclaimed = 0;
  std::string summary;
};
// Write the state file with this last prune (atomically; keep unknown keys).
struct Persist {
  LastPrune last;
};
// Answer the PruneNow call `request` (exactly once per PruneNow input).
struct Reply {
  std::uint64_t request = 0;
  std::string outcome;  // "pruned", "dry_run", "failed", "deferred: ...", "skipped: ...", "busy: ..."
  std::uint64_t reclaimed = 0;
};
// Stop was asked and nothing is in flight any more: exit now.
struct Finish {};

// The emergency tier, inside a prune run (after its steps, while the disk stays at or over
// emergency.critical_percent). Read the candidate rule's inputs and answer with
// CandidatesRead (read-only).
struct ReadCandidates {};
// Remove this one image (lib/prune/evict: DELETE per tag, never forced; dry-run sends
// nothing), re-read the disk, answer with EvictFinished. Never cancelled once sent.
struct EvictImage {
  emergency::Verdict candidate;
  bool dry_run = false;
};
// Write the state file with this last episode (atomically; keep unknown keys).
struct PersistEmergency {
  LastEmergency last;
};

using Action = std::variant<StartConfirm, AdoptConfirmed, SendStep, Journal, Publish, PruneFinishedSignal,
                            Persist, Reply, Finish, ReadCandidates, EvictImage, PersistEmergency>;

// ---- State ------------------------------------------------------------------------------
// An emergency episode under way, inside the prune run that started it. One request at a
// time: StartConfirm (confirming), ReadCandidates (listing), EvictImage (evicting).
struct EpisodeInFlight {
  emergency::Episode episode;
  bool listing = false;                         // ReadCandidates sent, CandidatesRead not back
  std::optional<emergency::Verdict> evicting;   // EvictImage sent, EvictFinished not back
  std::optional<DiskUsage> disk_before;         // the disk when that eviction was chosen
  bool prune_did_work = false;                  // a step removed something: still_full may follow
};

// The prune in flight (from StartConfirm until its last StepFinished, or until the end of
// the emergency episode that follows it: one prune run for the floor and the cooldown).
struct InFlight {
  bool manual = false;  // PruneNow: skips settle, cooldown and the floor, never runs/converge
  bool ignore_disk = false;
  std::optional<std::uint64_t> request;  // PruneNow's id, to reply to at the end
  bool confirming = true;                // StartConfirm sent, ConfirmResult not back yet
  bool dry_run = false;                  // fixed at start: a reload does not change it mid-way
  std::optional<PruneStep> sending;      // the step sent, StepFinished not back yet
  SteadyTime step_started{};
  bool slow_reported = false;            // prune_slow logged for this step
  std::vector<StepResult> results;       // finished steps (disabled ones included)
  std::optional<EpisodeInFlight> emergency;  // the steps are done; the episode goes on
};

struct TimelineState {
  std::optional<SteadyTime> all_open_since;      // settle runs from here (reset by each prune)
  std::optional<InFlight> prune;
  std::optional<LastPrune> last_prune;           // cooldown and the 10 s floor run from here
  std::optional<SteadyTime> last_any_end;        // any prune or dry-run end (the floor)
  std::optional<SteadyTime> retry_at;            // after a 409 or a failed confirming list
  std::optional<SteadyTime> dry_run_hold;        // a dry-run repeats at most once a cooldown
  std::optional<std::uint64_t> last_dry_run_would_free;
  std::optional<SteadyTime> blocking_since[2];   // runs, converge: closed while disk over
  std::optional<SteadyTime> last_blocked_long;
  bool still_full_warned = false;                // this episode (until the disk gate closes)
  std::optional<std::array<bool, 4>> last_gates; // for the `gate` records on change
  std::optional<LastEmergency> last_emergency;   // the last episode that ended
  bool stopping = false;
  bool finished = false;                         // Finish was emitted: ignore everything
};

struct Transition {
  TimelineState state;
  std::vector<Action> actions;
  std::optional<SteadyTime> wake_at;  // arm one timer here (monotonic); nullopt: none
};

// ---- Rules' constants (SPEC; each used once, in timeline.cpp) ----------------------------
inline constexpr Duration kFloor = std::chrono::seconds(10);          // automatic prunes apart
inline constexpr Duration kDeferredRetry = std::chrono::seconds(30);  // after a 409
inline constexpr Duration kBlockedLong = std::chrono::hours(1);
inline constexpr Duration kPruneSlow = std::chrono::minutes(10);

// The one transition function. Total: every input in every state gives a Transition.
Transition step(const TimelineState& state, const Snapshot& snap, const Config& config, Now now,
                const Input& input);

// A fresh state that remembers a persisted last prune. The persisted wall time becomes a
// monotonic instant conservatively: a wall clock that went backwards since (the prune
// looks to be in the future) counts as "just now". With `same_boot` (the file was written
// in this boot, so persisted->mono is on today's monotonic clock) the later of the two.
TimelineState restore(const std::optional<LastPrune>& persisted, bool same_boot, Now now);

// The still_full warning's text (one function, so its wording can change alone).
std::string still_full_message(const Snapshot& snap, const GateReport& after);

}  // namespace cdp::timeline
