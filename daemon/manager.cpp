// The manager's lifecycle: constructing and spawning the jobs, signals (SIGHUP reload,
// SIGTERM/SIGINT stop), the watchdog, the disk reader and the D-Bus wiring. Must not
// decide (policy/) or send prunes (prune/); the scheduler part lives in scheduler.cpp.
#include "manager.hpp"

#include <csignal>
#include <exception>

#include <spdlog/spdlog.h>

#include "config/file_hash.hpp"
#include "config/sanity.hpp"
#include "disk/spacing.hpp"
#include "disk/usage.hpp"
#include "report/journal.hpp"
#include "report/notify.hpp"
#include "util/duration.hpp"

namespace cdp {

namespace {
// A prompt disk re-read (events, inotify) happens at most this often (issue 3).
constexpr auto kDiskCoalesce = std::chrono::seconds(1);
}  // namespace

Manager::Manager(asio::io_context& io, Config config, std::optional<std::string> config_path, ManagerSeams seams)
    : io_(io),
      ex_(io.get_executor()),
      config_(std::move(config)),
      config_path_(std::move(config_path)),
      docker_wake_(ex_),
      heal_wake_(ex_),
      conv_wake_(ex_),
      disk_wake_(ex_),
      disk_watch_(ex_, [this] { request_disk_read(); }),
      clock_(seams.clock ? std::move(seams.clock) : std::make_unique<SystemTime>()),
      eval_timer_(ex_),
      state_file_(state_file_path()),
      signals_(ex_, SIGHUP, SIGTERM, SIGINT),
      watchdog_timer_(ex_),
      metrics_(ex_, CDP_VERSION) {
  reporter_ = std::move(seams.reporter);
  if (seams.prune_api) prune_api_ = std::move(seams.prune_api);
  note_config_loaded();
  // The model counts live containers per stack: snapshots carry counts, not every container.
  model_.set_stack_labels(config_.gates.stack_labels);
}

std::string Manager::config_file() const { return config_path_.value_or(kDefaultConfigPath); }

void Manager::note_config_loaded() {
  config_loaded_at_ = Clock::now();
  config_hash_ = config_file_hash(config_file()).value_or("");
}

Manager::~Manager() = default;

void Manager::spawn(const char* name, awaitable<void> job) {
  // A job that throws is a bug: log it and exit non-zero so systemd restarts us, rather
  // than run on with a dead job (e.g. no events: gates frozen).
  asio::co_spawn(ex_, std::move(job), [this, name](std::exception_ptr e) {
    if (!e || finished_) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("Job {} failed: {}; exiting", name, ex.what());
    } catch (...) {
      spdlog::error("Job {} failed; exiting", name);
    }
    exit_code_ = 1;
    finish();
  });
}

void Manager::start() {
  // The bus name before anything else is said or sent (SPEC "Never twice"): taken by
  // another daemon -> one line naming it, exit 1, nothing sent to Docker.
  if (!open_bus()) {
    exit_code_ = 1;
    finish();
    return;
  }
  spdlog::info("Starting ci-docker-prune {} with {}{}: docker {}, disk {}, threshold {}%{}", CDP_VERSION,
               config_file(), config_hash_.empty() ? " (absent: all defaults)" : "", config_.docker.host,
               config_.disk.path.value_or("(Docker root)"), config_.disk.threshold_percent,
               config_.prune.dry_run ? ", dry run" : "");
  for (const auto& w : config_warnings(config_)) spdlog::warn("{}: {}", config_file(), w);
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (!ec) on_signal(signo);
  });
  if (!reporter_) reporter_ = make_system_reporter(bus_);
  load_state();
  started_ = true;
  metrics_.configure(config_.metrics);
  emergency_load_state();
  refresh_disk_watch();  // an explicit disk.path is watched even while Docker is down
  spawn("docker", docker_loop());
  spawn("heal", heal_loop());
  spawn("convergence", convergence_loop());
  spawn("disk", disk_loop());
  spawn("watchdog", watchdog_loop());
  changed();
}

void Manager::on_signal(int signo) {
  if (signo == SIGHUP) {
    (void)reload();
  } else {
    spdlog::info("Received {}", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    stop();
  }
  if (finished_) return;
  signals_.async_wait([this](const boost::system::error_code& ec, int s) {
    if (!ec) on_signal(s);
  });
}

std::expected<void, std::string> Manager::reload() {
  notify::reloading();
  auto loaded = load_config(config_path_, docker_host_from_env());
  if (!loaded) {
    spdlog::error("Failed to reload the config, keeping the old one: {}", loaded.error().message);
    notify::ready();
    return std::unexpected(loaded.error().message);
  }
  const bool host_changed = loaded->docker.host != config_.docker.host;
  const bool disk_changed =
      loaded->disk.path != config_.disk.path || loaded->disk.poll_interval != config_.disk.poll_interval;
  config_ = std::move(*loaded);
  note_config_loaded();
  journal::set_level(config_.log.level);
  metrics_.configure(config_.metrics);
  spdlog::info("Reloaded the config from {}", config_file());
  for (const auto& w : config_warnings(config_)) spdlog::warn("{}: {}", config_file(), w);
  // Other stack labels: the model dropped the labels the old ones did not name
  // (LiveModel::set_stack_labels), so the containers are listed again, as for another engine.
  const bool labels_changed = model_.set_stack_labels(config_.gates.stack_labels);
  if (host_changed || labels_changed) {
    // Another engine: what the model knows is about the old one.
    // The epoch makes every session, list and inspect begun before this drop its result.
    reconnect_requested_ = true;
    ++docker_epoch_;
    model_.set_connected(false);
    client_.reset();
    if (stream_) stream_->close();
    docker_wake_.notify();
  }
  if (disk_changed) {
    refresh_disk_watch();
    disk_wake_.notify();
  }
  feed(timeline::Reload{});
  notify::ready();
  return {};
}

void Manager::stop() {
  if (stopping_) return;
  stopping_ = true;
  notify::stopping();
  const bool step_in_flight = timeline_.prune && timeline_.prune->sending;
  const bool evict_in_flight = timeline_.prune && timeline_.prune->emergency && timeline_.prune->emergency->evicting;
  spdlog::info("Stopping{}", step_in_flight    ? " after the prune step in flight"
                             : evict_in_flight ? " after the image removal in flight (emergency tier)"
                                               : "");
  if (stream_) stream_->close();
  docker_wake_.notify();
  heal_wake_.notify();
  conv_wake_.notify();
  disk_wake_.notify();
  disk_watch_.close();
  watchdog_timer_.cancel();
  emergency_persist(true);
  // A prune request once sent is never cancelled (SPEC): the timeline answers Finish at
  // once when nothing is in flight, else after the step's StepFinished.
  feed(timeline::Stop{});
}

void Manager::finish() {
  if (finished_) return;
  finished_ = true;
  boost::system::error_code ec;
  signals_.cancel(ec);
  if (bus_) bus_->close();
  metrics_.close();
  // Requests still waiting on Docker (lists, polls) have nothing left to deliver to.
  io_.stop();
}

awaitable<void> Manager::watchdog_loop() {
  while (!stopping_) {
    // Re-read each round: WATCHDOG_USEC does not change, but this is cheap and honest.
    const auto interval = notify::watchdog_interval();
    if (!interval) co_return;
    notify::watchdog();
    watchdog_timer_.expires_after(*interval);
    boost::system::error_code ec;
    co_await watchdog_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

std::string Manager::disk_path() const {
  if (config_.disk.path) return *config_.disk.path;
  if (model_.info() && !model_.info()->docker_root_dir.empty()) return model_.info()->docker_root_dir;
  return {};
}

void Manager::read_disk() {
  last_disk_read_ = Steady::now();
  const std::string path = disk_path();
  model_.set_disk_path(path);
  if (path.empty()) {
    model_.set_disk(std::unexpected(std::string("disk path unknown until Docker reports DockerRootDir")));
  } else {
    auto usage = read_disk_usage(path);
    if (!usage && !disk_error_logged_) {
      spdlog::warn("{}; the disk gate stays closed until it can be read", usage.error());
      disk_error_logged_ = true;
    } else if (usage) {
      disk_error_logged_ = false;
    }
    model_.set_disk(usage);
  }
  changed();
}

void Manager::request_disk_read() { disk_wake_.notify(); }

awaitable<void> Manager::disk_loop() {
  // The previous reading, for the fill rate actually seen (disk/spacing.hpp).
  std::optional<DiskUsage> before;
  Steady::time_point before_at{};
  while (!stopping_) {
    read_disk();
    // Adaptive spacing (issue 9): inotify is not recursive and not every writer emits a
    // Docker event, so the statvfs spacing itself must catch a crossing within 2 s; far
    // from the threshold it stretches to disk.poll_interval.
    const std::optional<DiskUsage>& now_disk = model_.disk();
    FillRate seen;
    if (before && now_disk && before->path == now_disk->path)
      seen = observed_fill_rate(*before, *now_disk,
                                std::chrono::duration_cast<Duration>(last_disk_read_ - before_at));
    before = now_disk;
    before_at = last_disk_read_;
    DiskSpacing spacing;
    spacing.max = config_.disk.poll_interval;
    const Duration gap = next_disk_read(now_disk, config_.disk.threshold_percent,
                                        config_.disk.inode_threshold_percent, spacing, seen);
    const bool prompt = co_await disk_wake_.wait(last_disk_read_ + gap);
    if (stopping_) break;
    // Coalesce: a burst of events or inotify activity costs one statvfs a second.
    if (prompt) co_await sleep_until(last_disk_read_ + kDiskCoalesce);
  }
}

void Manager::refresh_disk_watch() {
  const std::string path = disk_path();
  const std::string root = model_.info() ? model_.info()->docker_root_dir : std::string();
  auto paths = DiskWatch::paths_for(root, path);
  auto n = disk_watch_.watch(paths);
  if (!n) {
    spdlog::warn("{}; the disk is read every {} only", n.error(), format_duration(config_.disk.poll_interval));
  } else if (path != watched_for_) {
    spdlog::debug("Watching {} folders for disk changes under {}", *n, path);
  }
  watched_for_ = path;
}

bool Manager::open_bus() {
  Bus::Handlers h;
  h.prune_now = [this](bool ignore_disk, Bus::PruneReply reply) { on_prune_now(ignore_disk, std::move(reply)); };
  h.reload = [this]() { return reload(); };
  auto bus = Bus::open(ex_, std::move(h));
  if (!bus) {
    // Only a name owned by someone else fails here; an absent bus is retried by the Bus.
    spdlog::error("{}", bus.error());
    return false;
  }
  bus_ = std::move(*bus);
  return true;
}

}  // namespace cdp
