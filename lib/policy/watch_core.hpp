// The Docker watch's decisions, sans-IO: when to reconnect after a session ended, when to
// heal with a re-list, and the convergence poll's next move (ask /info, ask /services,
// sleep until T, record "no services here", stop). Inputs are results and the monotonic
// time; daemon/docker_watch.cpp and test/sim carry out the answers, the same code in both.
// Must not read a clock, do I/O, log or touch the model: the callers apply the results.
#pragma once
#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <variant>

#include "model/types.hpp"
#include "util/time.hpp"

namespace cdp::watch {

// ---- The reconnect backoff (SPEC "Never twice", recovery): doubles up to a cap after
// each failed session, and is reset only by a session that stayed synced for a while --
// not by a re-list that failed right after connecting (that reset gave one warning a
// second forever, issue 7).
class Backoff {
 public:
  static constexpr Duration kFirst = std::chrono::seconds(1);
  static constexpr Duration kMax = std::chrono::seconds(30);
  // A session synced at least this long counts as healthy: the next failure starts over.
  static constexpr Duration kHealthySession = std::chrono::seconds(60);

  // A session ended (or never got synced: nullopt). Returns how long to wait before the
  // next attempt.
  Duration after_session(std::optional<Duration> synced_for) {
    if (synced_for && *synced_for >= kHealthySession) current_ = kFirst;
    const Duration wait = current_;
    current_ = std::min<Duration>(current_ * 2, kMax);
    return wait;
  }
  // A deliberate reconnect (docker.host changed): start over.
  void reset() { current_ = kFirst; }
  Duration current() const { return current_; }

 private:
  Duration current_ = kFirst;
};

// ---- The session: list-then-watch until the stream ends, then reconnect.
enum class LostLog {
  lost,         // the model was synced: journal docker_lost (every Docker gate closes)
  unreachable,  // the first failure to reach Docker since the last sync: one warning
  quiet,        // a further failure in the same outage: debug only
};
struct Reconnect {
  Duration wait;  // before the next attempt
  LostLog log;
};

class Session {
 public:
  // The session's lists landed and the model is synced at `at`. Returns true when the
  // "connected" record is due (the model was not connected before, or a failure was logged).
  bool synced(SteadyTime at, bool was_connected);
  // The session ended at `now` (stream end, error, a failed list). `model_synced`: the
  // model was still synced, so operators hear "lost".
  Reconnect ended(SteadyTime now, bool model_synced);
  // docker.host changed (reload): the next attempt is at once, with a fresh backoff.
  void host_changed();
  Duration backoff_max() const { return Backoff::kMax; }

 private:
  Backoff backoff_;
  std::optional<SteadyTime> synced_since_;
  bool unreachable_logged_ = false;
};

// ---- The heal re-list, stream kept open (SPEC "Heal with no blind window"). Docker's
// replay buffer is 256 events and a slow reader silently loses events (moby
// daemon/events/events.go, eventsLimit): re-list this often to heal what was dropped.
class Heal {
 public:
  static constexpr Duration kInterval = std::chrono::minutes(5);
  // Heals asked for by bad input are at least this far apart: a flood of bad lines must
  // not become a list storm.
  static constexpr Duration kMinSpacing = std::chrono::seconds(1);

  explicit Heal(SteadyTime now = {}) : due_(now + kInterval) {}
  // Bad input on the stream, or an inspect that failed: heal as soon as the spacing allows.
  void ask() { asked_ = true; }
  SteadyTime wake_at() const { return asked_ ? earliest_ : due_; }
  bool due(SteadyTime now) const { return now >= wake_at(); }
  // A heal began at `now`, or was skipped (not synced, no stream, a list already running).
  void begun(SteadyTime now) {
    asked_ = false;
    due_ = now + kInterval;
  }
  // The heal's lists landed at `now` (false: they failed). Returns true when the stream must
  // be closed: lists failing while the stream looks fine leave the model unchecked, so
  // reconnect (gates closed) rather than go on with it.
  bool finished(SteadyTime now, bool listed) {
    due_ = now + kInterval;
    if (listed) earliest_ = now + kMinSpacing;
    return !listed;
  }

 private:
  SteadyTime due_;
  SteadyTime earliest_{};
  bool asked_ = false;
};

// ---- Which lists a (re-)list asks: /services only on a manager. Worker / inactive: no
// services to see; locked/pending/error: unknown, and the gates read the role from /info.
// Either way /services is not asked there (its 503 says nothing).
inline bool ask_services(SwarmRole role) { return role == SwarmRole::manager; }

// ---- The convergence poll. No event exists for task convergence (moby: the tasks'
// state changes are not in /events): after a hint (a service/node/task event, a list, an
// adopted confirming list), poll /services until the converge gate opens. A failed poll,
// or a swarm that is locked/pending (its unlock emits nothing we watch), is retried with
// backoff and re-reads /info first (SPEC: the role on every failure).
struct PollIdle {};  // nothing to do until the next hint
struct PollSleep {   // sleep until `until`, then ask again
  SteadyTime until;
};
struct PollAskInfo {};      // GET /info, then info_answered()
struct PollAskServices {};  // GET /services (note the model's generation first), then services_answered()
struct PollNoServices {};   // worker/inactive: record "no services here" (set_services(nullopt)); round over
using PollMove = std::variant<PollIdle, PollSleep, PollAskInfo, PollAskServices, PollNoServices>;

enum class ServicesAnswer {
  failed,    // the request failed (503: quorum lost; 5xx; timeout): set_services_error()
  stale,     // the model refused it: a service event arrived meanwhile
  accepted,  // the model took it as an observation
};

// Why the poll started failing (for the one warning per failing stretch).
enum class PollTrouble { none, info_failed, locked, services_failed };

class ConvergencePoll {
 public:
  // SPEC: two observations at least a second apart. A service that stays unconverged
  // (pending on a constraint, crash-looping) is polled less often after a minute.
  static constexpr Duration kSpacing = std::chrono::seconds(1);
  static constexpr Duration kSlowSpacing = std::chrono::seconds(2);
  static constexpr Duration kSlowAfter = std::chrono::seconds(60);
  // A list refused as stale (a service event arrived meanwhile) is retried after this.
  static constexpr Duration kStaleRetry = std::chrono::milliseconds(50);
  // The failing poll's backoff. Capped at 5 s, not the reconnect's 30 s: /info and
  // /services are cheap, and a lost quorum or a locked swarm that comes back must be
  // seen soon -- with 30 s the daemon missed its liveness bound after a quorum returned
  // (build/sim --seed 15079 --steps 120 --swarm-faults, test/sim/README.md).
  static constexpr Duration kRetryFirst = std::chrono::seconds(1);
  static constexpr Duration kRetryMax = std::chrono::seconds(5);

  // A hint: poll until converged (a round starts at the next next(), or after this one).
  void hint() { hint_ = true; }
  // A list observed /services (accepted by the model) at `at`: spaces the next poll.
  void observed(SteadyTime at) { last_observed_ = at; }
  // The driver gave up the request in flight (the engine changed, the model went stale).
  void stop() { phase_ = Phase::idle; }

  // The next move at `now`. `ready`: connected and synced (else the round ends). `role`:
  // the model's, read after the last /info was applied.
  PollMove next(SteadyTime now, bool ready, SwarmRole role);
  // The /info asked by PollAskInfo answered (ok: the caller applied it to the model).
  void info_answered(SteadyTime now, bool ok);
  // The /services asked by PollAskServices answered. `converged`: the converge gate is open
  // on the model after an accepted answer. Returns true when this answer ends a failing
  // stretch (for the "listed again" record).
  bool services_answered(SteadyTime now, ServicesAnswer answer, bool converged);

  bool failing() const { return failing_; }
  Duration retry() const { return retry_; }
  // The trouble that began the current failing stretch, once: none after it was taken.
  PollTrouble take_trouble() { return std::exchange(trouble_, PollTrouble::none); }

 private:
  enum class Phase { idle, wait, info_out, role_check, services_out };
  Duration spacing(SteadyTime now) const { return now - since_ > kSlowAfter ? kSlowSpacing : kSpacing; }
  void wait_from(SteadyTime now);
  void fail(SteadyTime now, PollTrouble why);

  Phase phase_ = Phase::idle;
  bool hint_ = false;
  SteadyTime since_{};
  SteadyTime until_{};
  SteadyTime last_observed_{};
  Duration retry_ = kRetryFirst;
  bool failing_ = false;
  PollTrouble trouble_ = PollTrouble::none;
};

}  // namespace cdp::watch
