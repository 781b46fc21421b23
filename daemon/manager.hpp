// The daemon's manager: owns the io_context's jobs and is the only place where rooms
// meet (STYLE.md). Jobs, each its own coroutine on the one thread: the Docker watch
// (docker_watch.cpp), the convergence poll, the disk reader, the watchdog; the scheduler
// (scheduler.cpp) re-decides after every change. Must not hold decision logic (policy/)
// or build prune requests (prune/).
#pragma once
#include <array>
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
#include "report/bus.hpp"
#include "report/metrics_export.hpp"
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

  // --- scheduler.cpp: decide, report, prune
  void changed();  // coalesced: one evaluate() per burst of changes
  void evaluate();
  void report_gates(const Decision& d, const Snapshot& snap);
  void check_blocked_long(const Decision& d, TimePoint now);
  void publish(const Decision& d, const Snapshot& snap, TimePoint now);
  void arm_wake(std::optional<TimePoint> at);
  void start_prune(bool manual, bool ignore_disk, Bus::PruneReply reply);
  awaitable<void> prune_job(bool manual, bool ignore_disk, Bus::PruneReply reply);
  std::optional<std::string> gate_check(bool manual, bool ignore_disk);

  asio::io_context& io_;
  asio::any_io_executor ex_;
  Config config_;
  std::optional<std::string> config_path_;
  LiveModel model_;
  SchedulerMemory memory_;

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

  // Scheduler and reporting
  bool eval_posted_ = false;
  asio::steady_timer eval_timer_;
  std::optional<std::array<bool, 4>> last_gates_;
  std::string last_status_;
  std::optional<std::uint64_t> last_reclaimed_;
  std::optional<TimePoint> retry_not_before_;  // after a 409 "prune already running"
  std::array<std::optional<TimePoint>, 4> blocking_since_;  // per gate, while the disk is over
  std::optional<TimePoint> last_blocked_long_;
  bool prune_stopping_requested_ = false;

  // Bus, signals, lifecycle
  std::unique_ptr<Bus> bus_;
  BusState last_bus_;
  bool bus_published_ = false;
  asio::signal_set signals_;
  asio::steady_timer watchdog_timer_;
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = 0;

  // Metrics (SPEC "Metrics"): updated where STATUS/D-Bus are published, counters bumped
  // where prunes finish, events apply and Docker reconnects.
  MetricsExport metrics_;
};

}  // namespace cdp
