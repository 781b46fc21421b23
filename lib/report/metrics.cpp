// The metrics registry and its text form (SPEC.md "Metrics"). Every series exists from the
// start (counters at 0, each state and gate, each outcome and step) so that rate() and
// absent() behave from the first scrape. Names follow Prometheus' conventions: one
// prefix, base units (bytes, seconds, ratios 0-1), counters end in _total, and no label
// takes unbounded values (no image ids, no stack names).
#include "report/metrics.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "prune/executor.hpp"

namespace cdp {

namespace {
constexpr const char* kPrefix = "ci_docker_prune_";
constexpr std::array kStates = {State::connecting, State::idle, State::blocked,
                                State::settling, State::pruning, State::cooldown};
constexpr std::array kGates = {GateId::disk, GateId::runs, GateId::converge, GateId::cooldown};
constexpr std::array kSteps = {PruneStep::containers, PruneStep::images, PruneStep::build_cache};
constexpr std::array kOutcomes = {"pruned", "partial", "failed", "dry_run", "skipped", "deferred"};
// Unknown (disk not read yet): NaN, which compares false in every alert expression.
const double kUnknown = std::numeric_limits<double>::quiet_NaN();

std::string name(const char* suffix) { return std::string(kPrefix) + suffix; }
}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  std::map<std::string, prometheus::Gauge*> state, gate_open;
  std::map<std::string, prometheus::Counter*> prunes;
  std::array<prometheus::Counter*, 3> reclaimed{};
  prometheus::Gauge *docker_connected, *disk_ratio, *inodes_ratio, *disk_threshold, *inodes_threshold, *last_prune;
  prometheus::Counter *emergency_evictions, *reconnects, *events, *drifts;
  std::optional<MetricsInput> last;
  bool ever_connected = false;

  prometheus::Gauge& gauge(const char* n, const std::string& help, const prometheus::Labels& labels = {}) {
    return prometheus::BuildGauge().Name(name(n)).Help(help).Register(registry).Add(labels);
  }
  prometheus::Counter& counter(const char* n, const std::string& help) {
    return prometheus::BuildCounter().Name(name(n)).Help(help).Register(registry).Add({});
  }
};

Metrics::Metrics(std::string version) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.gauge("build_info", "Build information; always 1.", {{"version", version}}).Set(1);
  auto& states = prometheus::BuildGauge()
                     .Name(name("state"))
                     .Help("1 for the daemon's current state (connecting, idle, blocked, settling, pruning, cooldown), 0 for the others.")
                     .Register(m.registry);
  for (State s : kStates) m.state[state_name(s)] = &states.Add({{"state", state_name(s)}});
  auto& gates = prometheus::BuildGauge()
                    .Name(name("gate_open"))
                    .Help("1 when the gate is open (disk over threshold, no run live, converged, cooldown over).")
                    .Register(m.registry);
  for (GateId g : kGates) m.gate_open[gate_name(g)] = &gates.Add({{"gate", gate_name(g)}});
  m.docker_connected = &m.gauge("docker_connected", "1 while the Docker Engine API answers and the model is synced from it.");
  m.disk_ratio = &m.gauge("disk_used_ratio", "Used bytes of the watched filesystem, as df computes it (0-1); NaN until read.");
  m.inodes_ratio = &m.gauge("disk_inodes_used_ratio", "Used inodes of the watched filesystem (0-1); NaN until read.");
  m.disk_threshold = &m.gauge("disk_threshold_ratio", "disk.threshold_percent as a ratio (0-1).");
  m.inodes_threshold = &m.gauge("disk_inodes_threshold_ratio", "disk.inode_threshold_percent as a ratio (0-1).");
  m.last_prune = &m.gauge("last_prune_timestamp_seconds", "Unix time the last prune finished; 0 if never.");
  m.disk_ratio->Set(kUnknown);
  m.inodes_ratio->Set(kUnknown);

  auto& prunes = prometheus::BuildCounter()
                     .Name(name("prunes_total"))
                     .Help("Prunes finished, by outcome: pruned, partial (some steps not sent or failed), failed (every sent step answered an error), dry_run, skipped, deferred (409).")
                     .Register(m.registry);
  for (const char* o : kOutcomes) m.prunes[o] = &prunes.Add({{"outcome", o}});
  auto& reclaimed = prometheus::BuildCounter()
                        .Name(name("reclaimed_bytes_total"))
                        .Help("Bytes Docker reported reclaimed (SpaceReclaimed), by prune step; dry runs not counted.")
                        .Register(m.registry);
  for (std::size_t i = 0; i < kSteps.size(); ++i) m.reclaimed[i] = &reclaimed.Add({{"step", step_name(kSteps[i])}});
  m.emergency_evictions = &m.counter("emergency_evictions_total", "Tagged images removed by the emergency tier.");
  m.reconnects = &m.counter("docker_reconnects_total", "Connections to Docker re-established after a loss (the first connection not counted).");
  m.events = &m.counter("events_applied_total", "Docker events applied to the live model.");
  m.drifts = &m.counter("model_drifts_total", "Fresh lists before a prune that showed the live model had missed something.");
}

Metrics::~Metrics() = default;

void Metrics::update(const MetricsInput& in) {
  auto& m = *impl_;
  if (m.last && *m.last == in) return;
  for (auto& [s, g] : m.state) g->Set(s == in.state ? 1 : 0);
  for (const auto& [gate, open] : in.gates)
    if (auto it = m.gate_open.find(gate); it != m.gate_open.end()) it->second->Set(open ? 1 : 0);
  m.docker_connected->Set(in.docker_connected ? 1 : 0);
  m.disk_ratio->Set(in.disk_used_ratio.value_or(kUnknown));
  m.inodes_ratio->Set(in.inodes_used_ratio.value_or(kUnknown));
  m.disk_threshold->Set(in.disk_threshold_ratio);
  m.inodes_threshold->Set(in.inodes_threshold_ratio);
  m.last_prune->Set(in.last_prune_finished_seconds.value_or(0));
  m.last = in;
  changed();
}

void Metrics::prune_finished(const PruneCount& count) {
  auto& m = *impl_;
  if (auto it = m.prunes.find(count.outcome); it != m.prunes.end()) it->second->Increment();
  for (std::size_t i = 0; i < m.reclaimed.size(); ++i)
    m.reclaimed[i]->Increment(static_cast<double>(count.reclaimed_bytes[i]));
  changed();
}

void Metrics::docker_connected() {
  auto& m = *impl_;
  if (m.ever_connected) {
    m.reconnects->Increment();
    changed();
  }
  m.ever_connected = true;
}

void Metrics::event_applied() {
  impl_->events->Increment();
  changed();
}

void Metrics::model_drift() {
  impl_->drifts->Increment();
  changed();
}

void Metrics::emergency_eviction() {
  impl_->emergency_evictions->Increment();
  changed();
}

std::string Metrics::text() const {
  const auto families = impl_->registry.Collect();
  return prometheus::TextSerializer().Serialize(families);
}

MetricsInput metrics_input(const Decision& d, const Snapshot& snap, const Config& config) {
  MetricsInput in;
  in.state = state_name(d.state);
  for (const auto& g : d.report.gates) in.gates.emplace_back(gate_name(g.id), g.open);
  in.docker_connected = snap.docker_connected && snap.synced;
  if (snap.disk) {
    in.disk_used_ratio = snap.disk->percent() / 100;
    in.inodes_used_ratio = snap.disk->inode_percent() / 100;
  }
  in.disk_threshold_ratio = config.disk.threshold_percent / 100;
  in.inodes_threshold_ratio = config.disk.inode_threshold_percent / 100;
  if (snap.last_prune_finished) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        snap.last_prune_finished->time_since_epoch()).count();
    in.last_prune_finished_seconds = static_cast<double>(ms) / 1000;
  }
  return in;
}

PruneCount count_prune(const PruneResult& result, bool dry_run) {
  using O = StepResult::Outcome;
  PruneCount c;
  bool sent = false, failed = false;
  for (const auto& s : result.steps) {
    if (s.outcome == O::done || s.outcome == O::dry_run || s.outcome == O::failed) sent = true;
    if (s.outcome == O::failed) failed = true;
    if (s.outcome == O::done && !dry_run) c.reclaimed_bytes[static_cast<std::size_t>(s.step)] += s.reclaimed;
  }
  // The same classification as the scheduler's journal: attempted, else deferred, else skipped.
  c.outcome = sent ? (dry_run ? "dry_run" : failed ? "failed" : "pruned") : result.any_deferred ? "deferred" : "skipped";
  return c;
}

}  // namespace cdp
