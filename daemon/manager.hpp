// The daemon's manager: owns the io_context's jobs and is the only place where rooms
// meet (STYLE.md). Jobs, each its own coroutine on the one thread: the Docker watch
// (docker_watch.cpp), the convergence poll, the disk reader, the watchdog; the scheduler
// (scheduler.cpp) feeds the pure timeline after every change and carries out its actions,
// with one timer. Must not hold decision logic (policy/) or build prune requests (prune/).
#pragma once
#include <array>
#include <functional>
#include <map>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "disk/watch.hpp"
#include "docker/client.hpp"
#include "docker/events.hpp"
#include "model/image_use.hpp"
#include "model/live_model.hpp"
#include "policy/decision.hpp"
#include "policy/emergency.hpp"
#include "policy/run_stack_watch.hpp"
#include "policy/timeline.hpp"
#include "policy/watch_core.hpp"
#include "prune/prune_api.hpp"
#include "report/bus.hpp"
#include "report/reporter.hpp"
#include "state/state_file.hpp"
#include "util/clock.hpp"
#include "report/disk_split.hpp"
#include "report/metrics_export.hpp"
#include "wakeup.hpp"

namespace cdp {

// The still_full warning: its one-line message and, when Docker answered /system/df, the split.
struct StillFull {
  std::string message;
  std::optional<DiskSplit> split;
};

// The seams a test or a harness replaces (STYLE.md "Narrow seams"); each left empty is
// the real one.
struct ManagerSeams {
  std::unique_ptr<TimeSource> clock;   // null: steady_clock + system_clock
  std::unique_ptr<Reporter> reporter;  // null: notify, journal and the bus (made in start())
  std::function<std::unique_ptr<PruneApi>(const docker::Client&)> prune_api;  // empty: Docker's
};

class Manager {
 public:
  Manager(asio::io_context& io, Config config, std::optional<std::string> config_path, ManagerSeams seams = {});
  ~Manager();
  // Spawns the jobs; io.run() then runs until stop() finished (SIGTERM/SIGINT).
  void start();
  int exit_code() const { return exit_code_; }
  bool started() const { return started_; }

 private:
  using Steady = std::chrono::steady_clock;

  // --- manager.cpp: lifecycle, signals, watchdog, disk, bus
  void spawn(const char* name, awaitable<void> job);
  void on_signal(int signo);
  std::expected<void, std::string> reload();
  void stop();
  void finish();
  awaitable<void> watchdog_loop();
  awaitable<void> disk_loop();
  void request_disk_read();
  void read_disk();
  void refresh_disk_watch();
  std::string disk_path() const;
  bool open_bus();  // false: the bus name is owned by another daemon (exit 1)

  // --- docker_watch.cpp: list-then-watch, reconnect, heal, convergence poll
  awaitable<void> docker_loop();
  awaitable<std::expected<void, docker::Error>> docker_session();
  awaitable<std::expected<void, docker::Error>> relist(docker::Client& client, std::uint64_t epoch);
  awaitable<std::expected<void, docker::Error>> list_services(docker::Client& client, std::uint64_t epoch);
  awaitable<void> heal_loop();
  awaitable<void> inspect_job(std::string id, std::uint64_t ticket, std::uint64_t epoch);
  void apply_event_effect(const EventEffect& fx);
  awaitable<void> convergence_loop();
  bool converge_gate_open();
  void ask_heal();  // bad input or a failed inspect: heal as soon as watch::Heal allows
  void report_poll_trouble(watch::PollTrouble trouble);
  void on_first_sync_attempt();

  // --- scheduler.cpp: feeds the pure timeline (policy/timeline.hpp), carries out its actions
  void changed();  // coalesced: one ModelChanged per burst of changes
  void feed(const timeline::Input& input);
  void carry_out(const timeline::Action& action, const Snapshot& snap, Now now);
  void publish(const timeline::View& view, const Snapshot& snap, Now now);
  void report_still_full(const timeline::Journal& record);
  void arm_wake(std::optional<SteadyTime> at);
  void on_prune_now(bool ignore_disk, Bus::PruneReply reply);
  awaitable<void> confirm_job();
  // A snapshot of the confirming lists, mapped as the live model maps its own lists.
  Snapshot snapshot_of(const ConfirmLists& lists) const;
  awaitable<void> step_job(PruneStep step, bool dry_run);
  void adopt_confirmed();
  void persist(const timeline::LastPrune& last);
  void load_state();
  awaitable<void> still_full_job(timeline::Journal record);
  // --- still_full.cpp: what the disk holds, for the still_full warning (GET /system/df)
  awaitable<StillFull> describe_still_full(const std::string& head);  // head outlives the await

  // --- emergency_wiring.cpp: the emergency tier (last uses; the episode's requests)
  void emergency_load_state();
  void emergency_persist(bool force);
  void emergency_on_event(const docker::Event& event);
  void emergency_request_images();
  awaitable<void> emergency_list_images();
  awaitable<void> emergency_candidates_job();  // ReadCandidates -> CandidatesRead
  awaitable<void> emergency_evict_job(emergency::Verdict candidate, bool dry_run);  // -> EvictFinished
  void emergency_persist_last(const timeline::LastEmergency& last);  // PersistEmergency

  asio::io_context& io_;
  asio::any_io_executor ex_;
  Config config_;
  std::optional<std::string> config_path_;
  LiveModel model_;

  // Docker
  std::optional<docker::Client> client_;  // negotiated; set while connected
  std::shared_ptr<docker::EventStream> stream_;
  Wakeup docker_wake_;
  watch::Session session_;  // the reconnect backoff and what a lost session logs
  // Bumped when docker.host changes on reload: a session, list or inspect begun for an
  // older epoch drops its result (it may be about the old engine).
  std::uint64_t docker_epoch_ = 0;
  Wakeup heal_wake_;                  // re-list now (bad event input), stream kept open
  watch::Heal heal_;
  bool reconnect_requested_ = false;  // docker.host changed on reload
  bool first_attempt_done_ = false;
  Wakeup conv_wake_;                  // the convergence poll's hints
  watch::ConvergencePoll poll_;
  std::string poll_error_;            // the last failed poll request, for its one warning

  // Disk
  Wakeup disk_wake_;
  DiskWatch disk_watch_;
  std::string watched_for_;  // the disk path the inotify watches were set up for
  Steady::time_point last_disk_read_{};
  bool disk_error_logged_ = false;

  // Scheduler (the timeline) and its seams: the clock, the reporter, the prune path's Docker
  std::unique_ptr<TimeSource> clock_;
  timeline::TimelineState timeline_;
  bool eval_posted_ = false;
  asio::steady_timer eval_timer_;
  std::unique_ptr<Reporter> reporter_;
  std::function<std::unique_ptr<PruneApi>(const docker::Client&)> prune_api_ = make_docker_prune_api;
  std::optional<ConfirmLists> confirmed_;  // the last confirming lists (AdoptConfirmed)
  std::map<std::uint64_t, Bus::PruneReply> replies_;  // PruneNow calls awaiting their Reply
  std::uint64_t next_request_ = 1;
  StateFile state_file_;
  std::string boot_id_;
  std::string last_status_;

  // What `status` shows about the config and the last still_full (issue 12).
  void note_config_loaded();
  std::string config_file() const;
  TimePoint config_loaded_at_{};
  std::string config_hash_;                // "" when no file was read (all defaults)
  std::optional<std::string> still_full_;  // the last still_full message, until the disk drops below

  // Emergency tier (emergency_wiring.cpp)
  ImageUse image_use_;
  std::vector<ImageRecord> images_;  // the last image list (resolves event references)
  bool image_use_dirty_ = false;
  Steady::time_point last_use_persist_{};
  bool images_listing_ = false;

  // Bus, signals, lifecycle
  std::unique_ptr<Bus> bus_;  // before reporter_ is used; reporter_ refers to it
  BusState last_bus_;
  bool bus_published_ = false;
  asio::signal_set signals_;
  asio::steady_timer watchdog_timer_;
  bool stopping_ = false;
  bool finished_ = false;
  bool started_ = false;  // the jobs were spawned (start() was not refused)
  int exit_code_ = 0;

  // Metrics (SPEC "Metrics"): updated where STATUS/D-Bus are published, counters bumped
  // where prunes finish, events apply and Docker reconnects.
  MetricsExport metrics_;
  RunStackWatch run_stack_watch_;  // the daily "run_stacks never matched" warning (issue 12)
  PruneCount pending_count_;  // the steps of the prune in flight, until it is counted
  void count_for_metrics(const timeline::Journal& j);
};

}  // namespace cdp
