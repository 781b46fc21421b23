// The Docker watch's decisions (watch_core.hpp): the session's reconnect and the
// convergence poll's state machine. Pure: no clock, no I/O, no logging.
#include "policy/watch_core.hpp"

namespace cdp::watch {

bool Session::synced(SteadyTime at, bool was_connected) {
  synced_since_ = at;
  const bool announce = !was_connected || unreachable_logged_;
  unreachable_logged_ = false;
  return announce;
}

Reconnect Session::ended(SteadyTime now, bool model_synced) {
  std::optional<Duration> synced_for;
  if (synced_since_) synced_for = std::chrono::duration_cast<Duration>(now - *synced_since_);
  synced_since_.reset();
  const LostLog log = model_synced ? LostLog::lost : !unreachable_logged_ ? LostLog::unreachable : LostLog::quiet;
  unreachable_logged_ = true;
  // Reset only by a session that stayed synced a while: a re-list that fails right after
  // each connect must not retry every second forever.
  return Reconnect{backoff_.after_session(synced_for), log};
}

void Session::host_changed() {
  backoff_.reset();
  synced_since_.reset();
}

void ConvergencePoll::wait_from(SteadyTime now) {
  phase_ = Phase::wait;
  until_ = failing_ ? now + retry_ : last_observed_ + spacing(now);
}

void ConvergencePoll::fail(SteadyTime now, PollTrouble why) {
  if (!failing_) trouble_ = why;
  failing_ = true;
  wait_from(now);
}

PollMove ConvergencePoll::next(SteadyTime now, bool ready, SwarmRole role) {
  if (!ready) {
    // Lost or stale: the round ends, and so does a hint (the next sync hints again).
    phase_ = Phase::idle;
    hint_ = false;
    return PollIdle{};
  }
  switch (phase_) {
    case Phase::idle:
      if (!hint_) return PollIdle{};
      hint_ = false;
      since_ = now;
      retry_ = kRetryFirst;
      failing_ = false;
      trouble_ = PollTrouble::none;
      wait_from(now);
      [[fallthrough]];
    case Phase::wait:
      if (now < until_) return PollSleep{until_};
      if (failing_) retry_ = std::min<Duration>(retry_ * 2, kRetryMax);
      if (failing_ || role != SwarmRole::manager) {
        phase_ = Phase::info_out;
        return PollAskInfo{};
      }
      phase_ = Phase::services_out;
      return PollAskServices{};
    case Phase::role_check:
      if (role == SwarmRole::worker || role == SwarmRole::inactive) {
        phase_ = Phase::idle;
        return PollNoServices{};
      }
      if (role == SwarmRole::unknown) {
        // Locked/pending/error: nothing to observe until it changes, and Docker sends no
        // event we watch for an unlock: look again with backoff.
        fail(now, PollTrouble::locked);
        return PollSleep{until_};
      }
      phase_ = Phase::services_out;
      return PollAskServices{};
    case Phase::info_out:
    case Phase::services_out:
      break;  // a request is out: its answer moves on
  }
  return PollIdle{};
}

void ConvergencePoll::info_answered(SteadyTime now, bool ok) {
  if (phase_ != Phase::info_out) return;
  if (!ok) return fail(now, PollTrouble::info_failed);
  phase_ = Phase::role_check;
}

bool ConvergencePoll::services_answered(SteadyTime now, ServicesAnswer answer, bool converged) {
  if (phase_ != Phase::services_out) return false;
  switch (answer) {
    case ServicesAnswer::failed:
      fail(now, PollTrouble::services_failed);
      return false;
    case ServicesAnswer::stale:
      wait_from(now);
      until_ = std::max(until_, now + kStaleRetry);
      return false;
    case ServicesAnswer::accepted:
      break;
  }
  const bool recovered = failing_;
  failing_ = false;
  retry_ = kRetryFirst;
  last_observed_ = now;
  if (converged) phase_ = Phase::idle;
  else wait_from(now);
  return recovered;
}

}  // namespace cdp::watch
