// The D-Bus object (sd-bus) and its integration into the io_context: the vtable, the
// property getters, PropertiesChanged diffing, async PruneNow replies and the fd/timeout
// pump. Must not decide anything: it reports BusState and forwards calls to Handlers.
#include "report/bus.hpp"

#include <poll.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

#include <spdlog/spdlog.h>

namespace cdp {
namespace {

constexpr const char* kErrorShuttingDown = "net.commoninternet.CiDockerPrune1.Error.ShuttingDown";
constexpr const char* kErrorReload = "net.commoninternet.CiDockerPrune1.Error.ReloadFailed";
// A wedged bus must not stall the event loop for sd-bus' default 25 s in the few
// synchronous calls we make (Hello, RequestName) at connect time.
constexpr std::uint64_t kSyncCallTimeoutUsec = 5'000'000;
// After the bus goes away (dbus-daemon restart), or when it is absent at start, try
// again this often.
constexpr auto kReconnectDelay = std::chrono::seconds(5);
// SPEC "Never twice": bounded D-Bus batches. A string-list property carries at most this
// many names, then one "... and N more" entry (a leaked-run storm must not build a
// multi-megabyte message; dbus-daemon's default max_message_size is 32 MiB).
constexpr std::size_t kMaxListedNames = 100;

// Why attach() failed: the name owned by another process is fatal at start.
struct AttachError {
  bool name_taken = false;
  std::string message;
};

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000 + std::uint64_t(ts.tv_nsec) / 1000;
}

// Shared with every pending completion handler so none outlives what it touches.
struct Core : std::enable_shared_from_this<Core> {
  asio::any_io_executor ex;
  Bus::Handlers handlers;
  BusState state;
  sd_bus* bus = nullptr;
  sd_bus_slot* slot = nullptr;
  asio::posix::stream_descriptor fd;
  asio::steady_timer timer;
  asio::steady_timer reconnect_timer;
  std::uint64_t generation = 0;  // bumps on every re-arm; stale completions are ignored
  bool kick_posted = false;
  bool closed = false;
  std::uint64_t next_call_id = 1;
  std::map<std::uint64_t, sd_bus_message*> pending;  // PruneNow calls awaiting their reply

  Core(asio::any_io_executor e, Bus::Handlers h)
      : ex(e), handlers(std::move(h)), fd(e), timer(e), reconnect_timer(e) {}

  std::expected<void, AttachError> attach();
  void schedule_reconnect();
  void detach();
  void process();
  void arm();
  void kick();
  void on_lost(int r);
  void reply_prune(std::uint64_t id, const std::string& outcome, std::uint64_t reclaimed);
};

// ---- vtable callbacks -------------------------------------------------------------

int append_strings(sd_bus_message* reply, const std::vector<std::string>& v) {
  int r = sd_bus_message_open_container(reply, 'a', "s");
  for (const auto& s : bounded_names(v)) {
    if (r < 0) return r;
    r = sd_bus_message_append(reply, "s", s.c_str());
  }
  return r < 0 ? r : sd_bus_message_close_container(reply);
}

int get_property(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
                 void* userdata, sd_bus_error*) {
  const BusState& s = static_cast<Core*>(userdata)->state;
  const std::string_view p = property;
  if (p == "State") return sd_bus_message_append(reply, "s", s.state.c_str());
  if (p == "DockerConnected") return sd_bus_message_append(reply, "b", int(s.docker_connected));
  if (p == "DiskPath") return sd_bus_message_append(reply, "s", s.disk_path.c_str());
  if (p == "DiskUsedPercent") return sd_bus_message_append(reply, "d", s.disk_used_percent);
  if (p == "DiskInodesUsedPercent") return sd_bus_message_append(reply, "d", s.disk_inodes_used_percent);
  if (p == "DiskThresholdPercent") return sd_bus_message_append(reply, "d", s.disk_threshold_percent);
  if (p == "LiveRunStacks") return append_strings(reply, s.live_run_stacks);
  if (p == "UnconvergedServices") return append_strings(reply, s.unconverged_services);
  if (p == "LastPruneFinished") return sd_bus_message_append(reply, "t", s.last_prune_finished_us);
  if (p == "LastPruneReclaimedBytes") return sd_bus_message_append(reply, "t", s.last_prune_reclaimed_bytes);
  if (p == "NextPruneNotBefore") return sd_bus_message_append(reply, "t", s.next_prune_not_before_us);
  if (p == "DiskInodeThresholdPercent") return sd_bus_message_append(reply, "d", s.disk_inode_threshold_percent);
  if (p == "StuckServices") return append_strings(reply, s.stuck_services);
  if (p == "ConfigPath") return sd_bus_message_append(reply, "s", s.config_path.c_str());
  if (p == "ConfigLoadedAt") return sd_bus_message_append(reply, "t", s.config_loaded_at_us);
  if (p == "ConfigHash") return sd_bus_message_append(reply, "s", s.config_hash.c_str());
  if (p == "Version") return sd_bus_message_append(reply, "s", s.version.c_str());
  if (p == "DryRun") return sd_bus_message_append(reply, "b", int(s.dry_run));
  if (p == "Warnings") return append_strings(reply, s.warnings);
  if (p == "EmergencyEnabled") return sd_bus_message_append(reply, "b", int(s.emergency_enabled));
  if (p == "LastEmergencyFinished") return sd_bus_message_append(reply, "t", s.last_emergency_finished_us);
  if (p == "LastEmergencyEvicted") return sd_bus_message_append(reply, "t", s.last_emergency_evicted);
  if (p == "LastEmergencyReclaimedBytes") return sd_bus_message_append(reply, "t", s.last_emergency_reclaimed_bytes);
  if (p == "LastEmergencyEnded") return sd_bus_message_append(reply, "s", s.last_emergency_ended.c_str());
  if (p == "LastEmergencyDryRun") return sd_bus_message_append(reply, "b", int(s.last_emergency_dry_run));
  if (p == "Gates") {
    int r = sd_bus_message_open_container(reply, 'a', "(sbs)");
    for (const auto& [name, open, reason] : s.gates) {
      if (r < 0) return r;
      r = sd_bus_message_append(reply, "(sbs)", name.c_str(), int(open), reason.c_str());
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
  }
  return -ENOENT;
}

// PruneNow is answered asynchronously: keep a reference to the call and reply when the
// manager's callback runs (a prune can take minutes; the loop must not wait for it).
int method_prune_now(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  auto* core = static_cast<Core*>(userdata);
  int ignore_disk = 0;
  if (int r = sd_bus_message_read(m, "b", &ignore_disk); r < 0) return r;
  if (!core->handlers.prune_now)
    return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED, "PruneNow is not available");
  const std::uint64_t id = core->next_call_id++;
  core->pending.emplace(id, sd_bus_message_ref(m));
  std::weak_ptr<Core> weak = core->shared_from_this();
  core->handlers.prune_now(ignore_disk != 0, [weak, id](const std::string& outcome, std::uint64_t reclaimed) {
    if (auto c = weak.lock()) c->reply_prune(id, outcome, reclaimed);
  });
  return 1;  // replied later (or already, if the handler answered synchronously)
}

int method_reload(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  auto* core = static_cast<Core*>(userdata);
  if (!core->handlers.reload) return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED, "Reload is not available");
  auto result = core->handlers.reload();
  if (!result) return sd_bus_error_set(error, kErrorReload, result.error().c_str());
  return sd_bus_reply_method_return(m, "");
}

// Methods carry no SD_BUS_VTABLE_UNPRIVILEGED flag: on top of the bus policy, sd-bus
// itself then refuses callers without CAP_SYS_ADMIN whose uid differs from ours.
constexpr std::uint64_t kEmits = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;
const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("State", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DockerConnected", "b", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DiskPath", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DiskUsedPercent", "d", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DiskInodesUsedPercent", "d", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DiskThresholdPercent", "d", get_property, 0, kEmits),
    SD_BUS_PROPERTY("Gates", "a(sbs)", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LiveRunStacks", "as", get_property, 0, kEmits),
    SD_BUS_PROPERTY("UnconvergedServices", "as", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastPruneFinished", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastPruneReclaimedBytes", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("NextPruneNotBefore", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DiskInodeThresholdPercent", "d", get_property, 0, kEmits),
    SD_BUS_PROPERTY("StuckServices", "as", get_property, 0, kEmits),
    SD_BUS_PROPERTY("ConfigPath", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("ConfigLoadedAt", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("ConfigHash", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("Version", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("DryRun", "b", get_property, 0, kEmits),
    SD_BUS_PROPERTY("Warnings", "as", get_property, 0, kEmits),
    SD_BUS_PROPERTY("EmergencyEnabled", "b", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastEmergencyFinished", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastEmergencyEvicted", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastEmergencyReclaimedBytes", "t", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastEmergencyEnded", "s", get_property, 0, kEmits),
    SD_BUS_PROPERTY("LastEmergencyDryRun", "b", get_property, 0, kEmits),
    SD_BUS_METHOD_WITH_NAMES("PruneNow", "b", SD_BUS_PARAM(ignore_disk), "st",
                             SD_BUS_PARAM(outcome) SD_BUS_PARAM(reclaimed_bytes), method_prune_now, 0),
    SD_BUS_METHOD("Reload", "", "", method_reload, 0),
    SD_BUS_SIGNAL_WITH_NAMES("PruneFinished", "ts", SD_BUS_PARAM(reclaimed_bytes) SD_BUS_PARAM(summary), 0),
    SD_BUS_VTABLE_END,
};

std::string bus_error(const char* what, int r) { return std::string("Failed to ") + what + ": " + std::strerror(-r); }

// Who owns our name: "the unique name :1.42 (pid 1234)", as the bus daemon tells it
// (GetNameOwner, GetConnectionUnixProcessID through sd-bus' name creds).
std::string name_owner(sd_bus* b) {
  sd_bus_creds* creds = nullptr;
  if (sd_bus_get_name_creds(b, kBusName, SD_BUS_CREDS_UNIQUE_NAME | SD_BUS_CREDS_PID, &creds) < 0)
    return "another process";
  const char* unique = nullptr;
  pid_t pid = 0;
  std::string out = "another process";
  if (sd_bus_creds_get_unique_name(creds, &unique) >= 0 && unique) out = std::string("the connection ") + unique;
  if (sd_bus_creds_get_pid(creds, &pid) >= 0 && pid > 0) out += " (pid " + std::to_string(pid) + ")";
  sd_bus_creds_unref(creds);
  return out;
}

// ---- connection and pump ----------------------------------------------------------

std::expected<void, AttachError> Core::attach() {
  auto fail = [](std::string m, bool taken = false) { return std::unexpected(AttachError{taken, std::move(m)}); };
  sd_bus* b = nullptr;
  if (int r = sd_bus_open_system(&b); r < 0) return fail(bus_error("connect to the system bus", r));
  sd_bus_set_method_call_timeout(b, kSyncCallTimeoutUsec);
  int r = sd_bus_add_object_vtable(b, &slot, kBusPath, kBusInterface, kVtable, this);
  if (r < 0) {
    sd_bus_flush_close_unref(b);
    return fail(bus_error("register the D-Bus object", r));
  }
  // No QUEUE flag (sd-bus then sends DBUS_NAME_FLAG_DO_NOT_QUEUE): a second daemon must
  // not silently wait behind the first.
  r = sd_bus_request_name(b, kBusName, 0);
  if (r < 0) {
    slot = sd_bus_slot_unref(slot);
    std::string owner = r == -EEXIST ? name_owner(b) : std::string();
    sd_bus_flush_close_unref(b);
    if (r == -EEXIST)
      return fail(std::string("Failed to start: the bus name ") + kBusName + " is owned by " + owner +
                      ", another ci-docker-prune daemon",
                  true);
    return fail(bus_error((std::string("acquire the bus name ") + kBusName).c_str(), r));
  }
  const int raw = sd_bus_get_fd(b);
  if (raw < 0) {
    slot = sd_bus_slot_unref(slot);
    sd_bus_flush_close_unref(b);
    return fail(bus_error("get the bus fd", raw));
  }
  boost::system::error_code ec;
  fd.assign(raw, ec);
  if (ec) {
    slot = sd_bus_slot_unref(slot);
    sd_bus_flush_close_unref(b);
    return fail("Failed to watch the bus fd: " + ec.message());
  }
  bus = b;
  kick();
  return {};
}

// Drops the connection. The fd belongs to sd-bus, so asio must release, not close, it.
void Core::detach() {
  ++generation;
  boost::system::error_code ec;
  fd.cancel(ec);
  timer.cancel();
  if (fd.is_open()) fd.release();
  slot = sd_bus_slot_unref(slot);
  if (bus) bus = sd_bus_flush_close_unref(bus);
}

void Core::process() {
  if (!bus) return;
  for (;;) {
    const int r = sd_bus_process(bus, nullptr);
    if (r < 0) return on_lost(r);
    if (r == 0) break;
  }
  arm();
}

// Waits for what sd-bus wants next: readable/writable fd and/or its timeout.
void Core::arm() {
  const std::uint64_t gen = ++generation;
  boost::system::error_code ec;
  fd.cancel(ec);
  timer.cancel();
  auto self = shared_from_this();
  auto on_ready = [self, gen](const boost::system::error_code& e) {
    if (e == asio::error::operation_aborted || gen != self->generation || self->closed) return;
    self->process();
  };
  const int events = sd_bus_get_events(bus);
  if (events < 0) return on_lost(events);
  if (events & POLLIN) fd.async_wait(asio::posix::descriptor_base::wait_read, on_ready);
  if (events & POLLOUT) fd.async_wait(asio::posix::descriptor_base::wait_write, on_ready);
  std::uint64_t until = 0;
  if (sd_bus_get_timeout(bus, &until) >= 0 && until != UINT64_MAX) {
    const std::uint64_t now = monotonic_usec();
    timer.expires_after(std::chrono::microseconds(until > now ? until - now : 0));
    timer.async_wait(on_ready);
  }
}

// Outgoing messages queued outside sd_bus_process (publish, late replies) need the pump
// to run once more so a POLLOUT wait is armed. Posted: never re-enter sd_bus_process.
void Core::kick() {
  if (kick_posted || closed) return;
  kick_posted = true;
  asio::post(ex, [self = shared_from_this()] {
    self->kick_posted = false;
    if (!self->closed) self->process();
  });
}

void Core::on_lost(int r) {
  spdlog::debug("D-Bus connection lost ({}); reconnecting in {}s", std::strerror(-r), kReconnectDelay.count());
  for (auto& [id, m] : pending) sd_bus_message_unref(m);  // their callers lost the bus too
  pending.clear();
  detach();
  schedule_reconnect();
}

// Retries until the bus is back (absent at start, or lost later). Each failure is logged
// at debug: the first one was logged by whoever noticed it.
void Core::schedule_reconnect() {
  if (closed) return;
  reconnect_timer.expires_after(kReconnectDelay);
  reconnect_timer.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
    if (e || self->closed || self->bus) return;
    if (auto ok = self->attach(); !ok) {
      if (ok.error().name_taken)
        spdlog::warn("{}; retrying in {}s", ok.error().message, kReconnectDelay.count());
      else
        spdlog::debug("{}", ok.error().message);
      self->schedule_reconnect();
    } else {
      spdlog::info("Connected to the system bus as {}", kBusName);
    }
  });
}

void Core::reply_prune(std::uint64_t id, const std::string& outcome, std::uint64_t reclaimed) {
  auto it = pending.find(id);
  if (it == pending.end()) return;  // bus closed or reconnected meanwhile
  sd_bus_message* m = it->second;
  pending.erase(it);
  if (bus) sd_bus_reply_method_return(m, "st", outcome.c_str(), reclaimed);
  sd_bus_message_unref(m);
  kick();
}

// NaN (unknown) equals NaN here: an unreadable disk must not signal on every publish.
bool differs(double a, double b) { return a != b && !(std::isnan(a) && std::isnan(b)); }

std::vector<const char*> changed_properties(const BusState& a, const BusState& b) {
  std::vector<const char*> names;
  if (a.state != b.state) names.push_back("State");
  if (a.docker_connected != b.docker_connected) names.push_back("DockerConnected");
  if (a.disk_path != b.disk_path) names.push_back("DiskPath");
  if (differs(a.disk_used_percent, b.disk_used_percent)) names.push_back("DiskUsedPercent");
  if (differs(a.disk_inodes_used_percent, b.disk_inodes_used_percent)) names.push_back("DiskInodesUsedPercent");
  if (a.disk_threshold_percent != b.disk_threshold_percent) names.push_back("DiskThresholdPercent");
  if (a.gates != b.gates) names.push_back("Gates");
  if (a.live_run_stacks != b.live_run_stacks) names.push_back("LiveRunStacks");
  if (a.unconverged_services != b.unconverged_services) names.push_back("UnconvergedServices");
  if (a.last_prune_finished_us != b.last_prune_finished_us) names.push_back("LastPruneFinished");
  if (a.last_prune_reclaimed_bytes != b.last_prune_reclaimed_bytes) names.push_back("LastPruneReclaimedBytes");
  if (a.next_prune_not_before_us != b.next_prune_not_before_us) names.push_back("NextPruneNotBefore");
  if (a.disk_inode_threshold_percent != b.disk_inode_threshold_percent) names.push_back("DiskInodeThresholdPercent");
  if (a.stuck_services != b.stuck_services) names.push_back("StuckServices");
  if (a.config_path != b.config_path) names.push_back("ConfigPath");
  if (a.config_loaded_at_us != b.config_loaded_at_us) names.push_back("ConfigLoadedAt");
  if (a.config_hash != b.config_hash) names.push_back("ConfigHash");
  if (a.version != b.version) names.push_back("Version");
  if (a.dry_run != b.dry_run) names.push_back("DryRun");
  if (a.warnings != b.warnings) names.push_back("Warnings");
  if (a.emergency_enabled != b.emergency_enabled) names.push_back("EmergencyEnabled");
  if (a.last_emergency_finished_us != b.last_emergency_finished_us) names.push_back("LastEmergencyFinished");
  if (a.last_emergency_evicted != b.last_emergency_evicted) names.push_back("LastEmergencyEvicted");
  if (a.last_emergency_reclaimed_bytes != b.last_emergency_reclaimed_bytes) names.push_back("LastEmergencyReclaimedBytes");
  if (a.last_emergency_ended != b.last_emergency_ended) names.push_back("LastEmergencyEnded");
  if (a.last_emergency_dry_run != b.last_emergency_dry_run) names.push_back("LastEmergencyDryRun");
  return names;
}

// ---- the public face --------------------------------------------------------------

class SdBus final : public Bus {
 public:
  explicit SdBus(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~SdBus() override { close(); }

  void publish(const BusState& next) override {
    auto names = changed_properties(core_->state, next);
    core_->state = next;
    if (names.empty() || !core_->bus || core_->closed) return;
    names.push_back(nullptr);
    if (int r = sd_bus_emit_properties_changed_strv(core_->bus, kBusPath, kBusInterface,
                                                    const_cast<char**>(names.data()));
        r < 0)
      spdlog::debug("Failed to emit PropertiesChanged: {}", std::strerror(-r));
    core_->kick();
  }

  void emit_prune_finished(std::uint64_t reclaimed, const std::string& summary) override {
    if (!core_->bus || core_->closed) return;
    if (int r = sd_bus_emit_signal(core_->bus, kBusPath, kBusInterface, "PruneFinished", "ts", reclaimed,
                                   summary.c_str());
        r < 0)
      spdlog::debug("Failed to emit PruneFinished: {}", std::strerror(-r));
    core_->kick();
  }

  // Answers every pending PruneNow with an error, flushes, and drops the connection.
  void close() override {
    if (core_->closed) return;
    core_->closed = true;
    for (auto& [id, m] : core_->pending) {
      if (core_->bus) sd_bus_reply_method_errorf(m, kErrorShuttingDown, "ci-docker-prune is stopping");
      sd_bus_message_unref(m);
    }
    core_->pending.clear();
    core_->reconnect_timer.cancel();
    core_->detach();  // sd_bus_flush_close_unref writes the queued replies first
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

std::expected<std::unique_ptr<Bus>, std::string> Bus::open(asio::any_io_executor ex, Handlers handlers) {
  auto core = std::make_shared<Core>(ex, std::move(handlers));
  if (auto ok = core->attach(); !ok) {
    if (ok.error().name_taken) return std::unexpected(ok.error().message);
    // No bus yet (dbus starts after us, or a dev run): serve it once it comes.
    spdlog::warn("{}; retrying every {}s", ok.error().message, kReconnectDelay.count());
    core->schedule_reconnect();
  }
  return std::make_unique<SdBus>(std::move(core));
}

std::vector<std::string> bounded_names(const std::vector<std::string>& names) {
  if (names.size() <= kMaxListedNames) return names;
  std::vector<std::string> out(names.begin(), names.begin() + kMaxListedNames);
  out.push_back("... and " + std::to_string(names.size() - kMaxListedNames) + " more");
  return out;
}

}  // namespace cdp
