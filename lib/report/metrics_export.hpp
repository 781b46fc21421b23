// Where the metrics go (SPEC.md "Metrics"): the textfile for node_exporter, written
// atomically after each change and at most once a second, and the HTTP listener. Owns
// the Metrics the manager updates (reach them with ->). Must not decide anything: the
// manager tells it what changed and which config applies.
#pragma once
#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "util/net.hpp"
#include "report/metrics.hpp"
#include "report/metrics_listener.hpp"

namespace cdp {

// Writes `text` to `path` atomically: a temp file in the same folder (so node_exporter,
// which reads only *.prom, never sees it half-written), mode 0644 (a scraper is another
// user; the daemon runs with UMask=0077), fsync, rename. Fails with "<path>: <why>".
std::expected<void, std::string> write_textfile(const std::string& path, std::string_view text);

class MetricsExport {
 public:
  MetricsExport(asio::any_io_executor ex, std::string version);
  ~MetricsExport();

  // Applies metrics.* (at start and on every reload): opens, moves or closes the listener
  // when metrics.listen changed; writes the textfile at once when its path changed.
  // Failures are logged (warning) and the daemon runs on without that output.
  void configure(const Config::Metrics& config);
  // Stops listening and writes the textfile one last time (its mtime then says when).
  void close();

  Metrics* operator->() { return &metrics_; }
  const Metrics& metrics() const { return metrics_; }

 private:
  void schedule_write();
  void write_now();

  asio::any_io_executor ex_;
  Metrics metrics_;
  asio::steady_timer timer_;
  bool write_pending_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  bool write_failed_logged_ = false;
  std::optional<std::string> textfile_;
  std::optional<MetricsListen> listen_;
  std::unique_ptr<MetricsListener> listener_;
};

}  // namespace cdp
