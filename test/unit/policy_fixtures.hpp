// Snapshot literals for the policy and status-line tests: a connected, synced engine,
// a known disk, two service observations 2 s apart (on the monotonic clock). Tests
// change what they exercise.
#pragma once
#include <chrono>

#include "config/config.hpp"
#include "model/snapshot.hpp"

namespace cdp::testfx {

using namespace std::chrono_literals;

// A run stack's name, as gates.run_stacks matches it by default.
inline const std::string kRun = "abcd-1a2b3c_ci_commoninternet_net";

// A fixed "now": tests move time explicitly.
inline TimePoint t0() { return TimePoint{} + std::chrono::hours(24 * 365 * 56); }
// The monotonic clock at t0() (service observations are stamped on it).
inline SteadyTime m0() { return SteadyTime{} + std::chrono::hours(100); }
// Both clocks at wall time `wall`, the monotonic one as far from m0() as `wall` is from
// t0() (no clock step); a test that steps the wall clock writes Now{mono, wall} itself.
inline Now at(TimePoint wall) {
  return Now{m0() + std::chrono::duration_cast<SteadyTime::duration>(wall - t0()), wall};
}

inline DiskUsage disk(double used, double avail, double iused = 3, double iavail = 97) {
  DiskUsage d;
  d.path = "/var/lib/docker";
  d.used_bytes = static_cast<std::uint64_t>(used);
  d.avail_bytes = static_cast<std::uint64_t>(avail);
  d.used_inodes = static_cast<std::uint64_t>(iused);
  d.avail_inodes = static_cast<std::uint64_t>(iavail);
  return d;
}

inline Service service(std::string name, std::uint64_t running, std::uint64_t desired,
                       std::optional<std::string> update = std::nullopt) {
  Service s;
  s.id = "id-" + name;
  s.name = std::move(name);
  s.status = Service::Status{running, desired, 0};
  s.update_state = std::move(update);
  s.updated_at = t0() - 1min;  // recent: unconverged ones are not stuck (stuck_after 30m)
  return s;
}

inline Container container(std::string name, std::string state, Labels labels = {}) {
  Container c;
  c.id = "cid-" + name;
  c.name = std::move(name);
  c.state = std::move(state);
  c.labels = std::move(labels);
  c.image = "local/busybox:1";
  return c;
}

// All gates open at t0(): disk 90%, no run stack, one converged service seen twice.
inline Snapshot open_snapshot() {
  Snapshot s;
  s.docker_connected = true;
  s.synced = true;
  s.disk = disk(90, 10);
  s.disk_path = "/var/lib/docker";
  std::vector<Service> svcs{service("proxy_web", 1, 1)};
  s.services_previous = ServiceObservation{m0() - 3s, svcs};
  s.services_latest = ServiceObservation{m0() - 1s, svcs};
  return s;
}

// Sets both observations to `svcs` (converged in both unless a test says otherwise).
inline void set_services(Snapshot& s, const std::vector<Service>& svcs) {
  s.services_previous->services = svcs;
  s.services_latest->services = svcs;
}

inline Config config() { return Config{}; }

}  // namespace cdp::testfx
