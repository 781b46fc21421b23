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
#include "model/live_model.hpp"
#include "policy/decision.hpp"
#include "policy/timeline.hpp"
#include "prune/prune_api.hpp"
#include "report/bus.hpp"
#include "report/reporter.hpp"
#include "state/state_file.hpp"
#include "util/clock.hpp"
#include "wakeup.hpp"

namespace cdp {

class Manager {
 public:
  Manager(asio::io_context& io, Config config, std::optional<std::string> config_path);
  ~Manager();
  // Spawns the jobs; io.run() then runs until stop() finished (SIGTERM/SIGINT).
  void start();
  int exit_code() const { return exit_code_; }

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
  void open_bus();

  // --- docker_watch.cpp: list-then-watch, reconnect, heal, convergence poll
  awaitable<void> docker_loop();
  awaitable<std::expected<void, docker::Error>> docker_session();
  awaitable<std::expected<void, docker::Error>> relist(docker::Client& client);
  awaitable<void> heal_loop();
  awaitable<void> convergence_loop();
  bool converge_gate_open();
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
  awaitable<void> step_job(PruneStep step, bool dry_run);
  void adopt_confirmed();
  void persist(const timeline::LastPrune& last);
  void load_state();

  asio::io_context& io_;
  asio::any_io_executor ex_;
  Config config_;
  std::optional<std::string> config_path_;
  LiveModel model_;

  // Docker
  std::optional<docker::Client> client_;  // negotiated; set while connected
  std::shared_ptr<docker::EventStream> stream_;
  Wakeup docker_wake_;
  Duration backoff_ = std::chrono::seconds(1);
  bool heal_requested_ = false;       // close + reopen the stream without declaring Docker lost
  bool reconnect_requested_ = false;  // docker.host changed on reload
  bool first_attempt_done_ = false;
  bool unreachable_logged_ = false;
  Wakeup conv_wake_;
  Steady::time_point last_services_poll_{};

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

  // Bus, signals, lifecycle
  std::unique_ptr<Bus> bus_;  // before reporter_ is used; reporter_ refers to it
  BusState last_bus_;
  bool bus_published_ = false;
  asio::signal_set signals_;
  asio::steady_timer watchdog_timer_;
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace cdp
