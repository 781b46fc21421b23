// The daemon's Prometheus metrics (SPEC.md "Metrics"): one prometheus-cpp registry, the
// plain input the manager fills on every change, the counters it bumps, and the text
// exposition format. Must not do I/O: the textfile writer and the HTTP listener
// (metrics_export.hpp) take text() from here.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/snapshot.hpp"
#include "policy/decision.hpp"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
}  // namespace prometheus

namespace cdp {

struct PruneResult;

// Everything the gauges show, filled by the manager where it publishes STATUS and D-Bus.
struct MetricsInput {
  std::string state;                                  // state_name(): "idle", "blocked", ...
  std::vector<std::pair<std::string, bool>> gates;    // (gate name, open)
  bool docker_connected = false;
  std::optional<double> disk_used_ratio;              // 0-1; nullopt: not read (yet)
  std::optional<double> inodes_used_ratio;
  double disk_threshold_ratio = 0;                    // config percent / 100
  double inodes_threshold_ratio = 0;
  std::optional<double> last_prune_finished_seconds;  // Unix time; nullopt: never
  bool operator==(const MetricsInput&) const = default;
};

// The input as the scheduler knows it after a decision.
MetricsInput metrics_input(const Decision& d, const Snapshot& snap, const Config& config);

// A finished prune as counted: outcome "pruned" (sent, every sent step answered 200),
// "failed" (a sent step failed), "dry_run", "skipped" (a gate closed before any step, or
// none enabled) or "deferred" (Docker's 409 only). Bytes by step only for real prunes.
struct PruneCount {
  std::string outcome;
  std::array<std::uint64_t, 3> reclaimed_bytes{};  // containers, images, build_cache
};
PruneCount count_prune(const PruneResult& result, bool dry_run);

class Metrics {
 public:
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Each returns nothing and calls the change hook when a value moved.
  void update(const MetricsInput& in);
  void prune_finished(const PruneCount& count);
  void docker_connected();  // every (re)connect; the first one is not a reconnect
  void event_applied();
  void model_drift();
  void emergency_eviction();

  // Called after every change (the exporter schedules a textfile write).
  void on_change(std::function<void()> hook) { hook_ = std::move(hook); }

  // The Prometheus text exposition format (version 0.0.4) of every metric.
  std::string text() const;

 private:
  struct Impl;
  void changed() const {
    if (hook_) hook_();
  }
  std::unique_ptr<Impl> impl_;
  std::function<void()> hook_;
};

}  // namespace cdp
