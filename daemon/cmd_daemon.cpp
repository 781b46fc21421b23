// `ci-docker-prune daemon`: load the config (exit 2 when bad), take the host-wide lock
// (exit 1 naming its holder), set up logging, run the manager on one io_context thread
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
  // The config first: a bad one is exit 2 naming the key, even while another daemon runs
  // (an operator trying a new config by hand beside the service sees what is wrong with
  // it, not only "another daemon"). Reading it touches nothing else.
  auto config = load_config(opts.config_path, docker_host_from_env());
  if (!config) {
    fmt::print(stderr, "{}\n", config.error().message);
    return kExitConfig;
  }
  // Then the lock (SPEC "Never twice"): a second daemon exits before it talks to Docker or
  // the bus. Held until we return (the descriptor closes with the process).
  auto lock = InstanceLock::take(instance_lock_path());
  if (!lock) {
    fmt::print(stderr, "{}\n", lock.error());
    return kExitFailure;
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
