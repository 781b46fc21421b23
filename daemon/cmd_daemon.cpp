// `ci-docker-prune daemon`: take the host-wide lock (exit 1 naming its holder), load the
// config (exit 2 when bad), set up logging, run the manager on one io_context thread
// until SIGTERM/SIGINT. Must not hold daemon logic.
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "config/config.hpp"
#include "manager.hpp"
#include "report/journal.hpp"
#include "util/instance_lock.hpp"

namespace cdp {

int cmd_daemon(const CommandOptions& opts) {
  // First of all (SPEC "Never twice"): a second daemon exits before it reads anything or
  // talks to Docker. Held until we return (the descriptor closes with the process).
  auto lock = InstanceLock::take(instance_lock_path());
  if (!lock) {
    fmt::print(stderr, "{}\n", lock.error());
    return kExitFailure;
  }
  auto config = load_config(opts.config_path, docker_host_from_env());
  if (!config) {
    fmt::print(stderr, "{}\n", config.error().message);
    return kExitConfig;
  }
  journal::setup(config->log.level);
  asio::io_context io(1);  // one thread: the implicit strand (STYLE.md)
  Manager manager(io, std::move(*config), opts.config_path);
  manager.start();
  io.run();
  // Not after a refused start (the bus name taken): that is one line, and nothing ran.
  if (manager.started()) spdlog::info("Stopped");
  return manager.exit_code();
}

}  // namespace cdp
