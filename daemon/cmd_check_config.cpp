// `ci-docker-prune check-config [-c FILE]`: validate the config and print the effective
// values (defaults filled in, docker.host from DOCKER_HOST) as JSON, with a warning on stderr
// for each valid but suspicious value (config/sanity.hpp). Must not contact Docker.
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "config/config.hpp"
#include "config/sanity.hpp"

namespace cdp {

int cmd_check_config(const CommandOptions& opts) {
  auto config = load_config(opts.config_path, docker_host_from_env());
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return kExitConfig;
  }
  // Suspicious but valid values (issue 12): warned about, never rejected; exit stays 0.
  for (const auto& w : config_warnings(*config))
    std::fprintf(stderr, "warning: %s: %s\n", opts.config_path.value_or(kDefaultConfigPath).c_str(), w.c_str());
  // `replace`: a DOCKER_HOST with invalid UTF-8 must not turn a valid config into a crash.
  std::string out = to_json(*config).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "Failed to write the config to stdout\n");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace cdp
