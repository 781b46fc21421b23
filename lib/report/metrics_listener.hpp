// The metrics HTTP listener: Beast on the daemon's io_context (one thread, coroutines),
// on a loopback TCP port or a unix socket, serving GET (and HEAD) /metrics and nothing
// else: 404 for other paths, 405 for other methods. Small requests only, a deadline on
// every read and write, a cap on connections; it never blocks the event loop. Must not
// know what the metrics are: the body comes from a callback.
#pragma once
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "util/net.hpp"

namespace cdp {

class MetricsListener {
 public:
  using Body = std::function<std::string()>;
  // Binds and listens, then serves until close(). A unix socket path that exists as a
  // socket (left by a crash) is replaced; any other file there is an error. The socket
  // is made 0666: the metrics are as public as the bus properties (SPEC "D-Bus").
  // Fails with "Failed to listen on <address>: <why>".
  static std::expected<std::unique_ptr<MetricsListener>, std::string> open(asio::any_io_executor ex,
                                                                            const MetricsListen& where, Body body);
  ~MetricsListener();
  // Stops accepting, ends open connections, removes the unix socket file. Idempotent.
  void close();

  struct Shared;  // the state the coroutines share (outlives this object if they run on)

 private:
  explicit MetricsListener(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<Shared> shared_;
};

}  // namespace cdp
