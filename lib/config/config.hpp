// The configuration: SPEC.md "Configuration". Owns loading, validation, defaults and
// rendering the effective config. Must not touch Docker or the daemon's state.
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/time.hpp"

namespace cdp {

inline constexpr const char* kDefaultConfigPath = "/etc/ci-docker-prune/config.json";
inline constexpr const char* kDefaultDockerHost = "unix:///var/run/docker.sock";
inline constexpr const char* kDefaultRunStacks = "^[a-z0-9]{1,4}-[0-9a-f]{6}_ci_commoninternet_net$";

enum class LogLevel { trace, debug, info, warn, error };

// metrics.listen, parsed: "127.0.0.1:9108", "[::1]:9108" (loopback only) or "unix:/abs/path".
struct MetricsListen {
  std::string text;  // as written, for check-config and logs
  bool is_unix = false;
  std::string host;  // the IP literal without brackets (tcp)
  unsigned short port = 0;
  std::string path;  // the socket path (unix)
  bool operator==(const MetricsListen&) const = default;
};

// Parses a metrics.listen value; the error says what is wrong (without the key).
std::expected<MetricsListen, std::string> parse_metrics_listen(std::string_view text);

struct Config {
  struct Docker {
    std::string host = kDefaultDockerHost;  // as written/effective, "unix:///path"
    std::string socket_path() const;         // the path after "unix://"
  } docker;
  struct Disk {
    std::optional<std::string> path;  // nullopt: Docker's DockerRootDir
    double threshold_percent = 80;
    double inode_threshold_percent = 80;
    Duration poll_interval = std::chrono::seconds(60);
  } disk;
  struct Gates {
    std::string run_stacks = kDefaultRunStacks;  // ECMAScript regex source
    std::regex run_stacks_re{kDefaultRunStacks, std::regex::ECMAScript};
    std::vector<std::string> stack_labels = {"com.docker.stack.namespace",
                                             "com.docker.compose.project"};
    bool converge = true;
    Duration settle = std::chrono::seconds(10);
    Duration stuck_after = std::chrono::minutes(30);  // 0: nothing is ever stuck
  } gates;
  struct Prune {
    std::string until = "24h";  // passed to Docker verbatim (validated as a Go duration)
    Duration until_duration = std::chrono::hours(24);
    bool containers = true;
    bool images = true;
    bool build_cache = true;
    Duration cooldown = std::chrono::minutes(15);
    bool dry_run = false;
  } prune;
  // SPEC "The emergency tier": off by default; the only path that removes a tagged image.
  struct Emergency {
    bool enabled = false;
    double critical_percent = 95;  // evict only when the disk stays at or over this after a prune
    double target_percent = 85;    // stop evicting once below this (always < critical_percent)
    std::vector<std::string> keep;    // ECMAScript regex sources, matched against every repo:tag
    std::vector<std::regex> keep_re;  // the same, compiled at load
    Duration min_age = std::chrono::hours(6);  // last use must be older than this
    std::uint64_t max_images = 20;             // at most this many images per episode
  } emergency;
  struct Metrics {
    std::optional<std::string> textfile;  // absolute path ending in .prom; nullopt: off
    std::optional<MetricsListen> listen;  // nullopt: no HTTP listener
  } metrics;
  struct Log {
    LogLevel level = LogLevel::info;
  } log;
};

// One line, ready for stderr: "<file>: <key>: <problem>" or "<file>:<line>:<col>: <problem>".
struct ConfigError {
  std::string message;
};

// Parses and validates a config document. `file` is used only in error messages.
// `docker_host_env` is $DOCKER_HOST (nullopt when unset); it fills docker.host when the
// document has none. Fails on syntax errors, unknown keys, wrong types, bad values.
std::expected<Config, ConfigError> parse_config(std::string_view text, const std::string& file,
                                                const std::optional<std::string>& docker_host_env);

// Reads `path` and parses it. When `path` is nullopt the default path is used and a
// missing file means all defaults; an explicitly named missing file is an error.
std::expected<Config, ConfigError> load_config(const std::optional<std::string>& path,
                                               const std::optional<std::string>& docker_host_env);

// The effective config, every key present (durations as Go strings, disk.path null when unset).
nlohmann::json to_json(const Config& config);

// "trace" | "debug" | "info" | "warn" | "error" <-> LogLevel; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);
const char* to_string(LogLevel level);

// $DOCKER_HOST, or nullopt when unset or empty (the docker CLI treats empty as unset).
std::optional<std::string> docker_host_from_env();

}  // namespace cdp
