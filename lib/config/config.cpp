// Loading and validating the JSON config (SPEC.md "Configuration"), and rendering the
// effective config. Owns the schema: every key, its type, its range, its default.
// Must not touch Docker, the clock or the daemon's state; never logs (callers report errors).
#include "config/config.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "util/duration.hpp"

namespace cdp {
namespace {

using nlohmann::json;

// Thrown inside the parser only; parse_config turns it into a one-line ConfigError.
struct Invalid {
  std::string key;   // dotted path, e.g. "gates.settle"
  std::string what;  // what is wrong
};

std::string quote(std::string_view s) { return json(std::string(s)).dump(); }  // escapes: stays one line

// A section ("disk", ...) or the document: an object whose keys must all be known.
void require_object(const json& j, const std::string& key) {
  if (!j.is_object()) throw Invalid{key, std::string("expected an object, got ") + j.type_name()};
}

void reject_unknown_keys(const json& obj, const std::string& prefix,
                         std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : obj.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (ok) continue;
    std::string list;
    for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    throw Invalid{prefix.empty() ? name : prefix + "." + name,
                  "unknown key (known here: " + list + ")"};
  }
}

// The member `name` of `obj` or nullptr when absent. Every key is optional.
const json* member(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

bool read_bool(const json& j, const std::string& key) {
  if (!j.is_boolean()) throw Invalid{key, std::string("expected true or false, got ") + j.type_name()};
  return j.get<bool>();
}

std::string read_string(const json& j, const std::string& key) {
  if (!j.is_string()) throw Invalid{key, std::string("expected a string, got ") + j.type_name()};
  return j.get<std::string>();
}

double read_percent(const json& j, const std::string& key) {
  if (!j.is_number()) throw Invalid{key, std::string("expected a number in (0, 100], got ") + j.type_name()};
  double v = j.get<double>();
  if (!(v > 0 && v <= 100)) throw Invalid{key, "must be a number in (0, 100], got " + j.dump()};
  return v;
}

// A Go duration; returns the text too, for keys that are passed on verbatim.
Duration read_duration(const json& j, const std::string& key, std::string* text = nullptr) {
  if (!j.is_string())
    throw Invalid{key, std::string("expected a duration string like \"10s\", got ") + j.type_name() +
                           (j.is_number() ? " " + j.dump() : "")};
  auto s = j.get<std::string>();
  auto d = parse_duration(s);
  if (!d) throw Invalid{key, "invalid duration " + quote(s) + " (Go form like 10s, 15m, 1h30m)"};
  if (text) *text = s;
  return *d;
}

// "unix://" + an absolute path: the only transport the client speaks.
bool valid_unix_host(const std::string& host) {
  constexpr std::string_view scheme = "unix://";
  return host.starts_with(scheme) && host.size() > scheme.size() + 1 && host[scheme.size()] == '/' &&
         host.find('\0') == std::string::npos;
}

// Returns whether the file names the host (then $DOCKER_HOST is not consulted).
bool parse_docker(const json& j, Config& c) {
  require_object(j, "docker");
  reject_unknown_keys(j, "docker", {"host"});
  auto* v = member(j, "host");
  if (!v) return false;
  c.docker.host = read_string(*v, "docker.host");
  if (!valid_unix_host(c.docker.host))
    throw Invalid{"docker.host", "unsupported " + quote(c.docker.host) + " (only unix:///absolute/path)"};
  return true;
}

void parse_disk(const json& j, Config& c) {
  require_object(j, "disk");
  reject_unknown_keys(j, "disk", {"path", "threshold_percent", "inode_threshold_percent", "poll_interval"});
  if (auto* v = member(j, "path"); v && !v->is_null()) {
    if (!v->is_string()) throw Invalid{"disk.path", std::string("expected null or an absolute path, got ") + v->type_name()};
    auto p = v->get<std::string>();
    if (!p.starts_with('/') || p.find('\0') != std::string::npos)
      throw Invalid{"disk.path", "expected null or an absolute path, got " + quote(p)};
    c.disk.path = p;
  }
  if (auto* v = member(j, "threshold_percent")) c.disk.threshold_percent = read_percent(*v, "disk.threshold_percent");
  if (auto* v = member(j, "inode_threshold_percent"))
    c.disk.inode_threshold_percent = read_percent(*v, "disk.inode_threshold_percent");
  if (auto* v = member(j, "poll_interval")) {
    c.disk.poll_interval = read_duration(*v, "disk.poll_interval");
    // 0 would make the poll timer spin; sub-millisecond values truncate to 0 as well.
    if (c.disk.poll_interval <= Duration::zero())
      throw Invalid{"disk.poll_interval", "must be at least 1ms, got " + v->dump()};
  }
}

void parse_gates(const json& j, Config& c) {
  require_object(j, "gates");
  reject_unknown_keys(j, "gates", {"run_stacks", "stack_labels", "converge", "settle", "stuck_after"});
  if (auto* v = member(j, "run_stacks")) {
    auto re = read_string(*v, "gates.run_stacks");
    // An empty pattern matches every stack: almost surely a mistake, so say so.
    if (re.empty()) throw Invalid{"gates.run_stacks", "must not be empty"};
    try {
      c.gates.run_stacks_re = std::regex(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Invalid{"gates.run_stacks", "invalid ECMAScript regex " + quote(re) + ": " + e.what()};
    }
    c.gates.run_stacks = re;
  }
  if (auto* v = member(j, "stack_labels")) {
    if (!v->is_array() || v->empty())
      throw Invalid{"gates.stack_labels", std::string("expected a non-empty array of label names, got ") +
                                              (v->is_array() ? "[]" : v->type_name())};
    c.gates.stack_labels.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      auto key = "gates.stack_labels[" + std::to_string(i) + "]";
      auto label = read_string((*v)[i], key);
      if (label.empty()) throw Invalid{key, "must not be empty"};
      c.gates.stack_labels.push_back(label);
    }
  }
  if (auto* v = member(j, "converge")) c.gates.converge = read_bool(*v, "gates.converge");
  if (auto* v = member(j, "settle")) c.gates.settle = read_duration(*v, "gates.settle");
  if (auto* v = member(j, "stuck_after")) c.gates.stuck_after = read_duration(*v, "gates.stuck_after");
}

void parse_prune(const json& j, Config& c) {
  require_object(j, "prune");
  reject_unknown_keys(j, "prune", {"until", "containers", "images", "build_cache", "cooldown", "dry_run"});
  if (auto* v = member(j, "until")) {
    c.prune.until_duration = read_duration(*v, "prune.until", &c.prune.until);
    // Docker reads "0" as the Unix epoch (prunes nothing) and "0s" as "everything up to
    // now": neither is a policy anyone means, so until must be positive.
    if (c.prune.until_duration <= Duration::zero())
      throw Invalid{"prune.until", "must be greater than 0, got " + quote(c.prune.until)};
  }
  if (auto* v = member(j, "containers")) c.prune.containers = read_bool(*v, "prune.containers");
  if (auto* v = member(j, "images")) c.prune.images = read_bool(*v, "prune.images");
  if (auto* v = member(j, "build_cache")) c.prune.build_cache = read_bool(*v, "prune.build_cache");
  if (auto* v = member(j, "cooldown")) c.prune.cooldown = read_duration(*v, "prune.cooldown");
  if (auto* v = member(j, "dry_run")) c.prune.dry_run = read_bool(*v, "prune.dry_run");
}

void parse_metrics(const json& j, Config& c) {
  require_object(j, "metrics");
  reject_unknown_keys(j, "metrics", {"textfile", "listen"});
  if (auto* v = member(j, "textfile"); v && !v->is_null()) {
    if (!v->is_string())
      throw Invalid{"metrics.textfile", std::string("expected null or an absolute path, got ") + v->type_name()};
    auto p = v->get<std::string>();
    if (!p.starts_with('/') || p.ends_with('/') || p.find('\0') != std::string::npos)
      throw Invalid{"metrics.textfile", "expected null or an absolute file path, got " + quote(p)};
    // node_exporter's textfile collector reads only *.prom (collector/textfile.go): any
    // other name would be written and silently never collected.
    if (!p.ends_with(".prom"))
      throw Invalid{"metrics.textfile", "must end in .prom (node_exporter reads only *.prom), got " + quote(p)};
    c.metrics.textfile = p;
  }
  if (auto* v = member(j, "listen"); v && !v->is_null()) {
    if (!v->is_string())
      throw Invalid{"metrics.listen", std::string("expected null or a string like \"127.0.0.1:9108\", got ") +
                                          v->type_name()};
    auto parsed = parse_metrics_listen(v->get<std::string>());
    if (!parsed) throw Invalid{"metrics.listen", parsed.error()};
    c.metrics.listen = *parsed;
  }
}

// 95 -> "95", 97.5 -> "97.5": as the operator wrote it (json would print 95.0).
std::string number_text(double v) {
  return v == std::floor(v) ? std::to_string(static_cast<std::int64_t>(v)) : json(v).dump();
}

void parse_emergency(const json& j, Config& c) {
  require_object(j, "emergency");
  reject_unknown_keys(j, "emergency",
                      {"enabled", "critical_percent", "target_percent", "keep", "min_age", "max_images"});
  auto& e = c.emergency;
  if (auto* v = member(j, "enabled")) e.enabled = read_bool(*v, "emergency.enabled");
  if (auto* v = member(j, "critical_percent")) e.critical_percent = read_percent(*v, "emergency.critical_percent");
  if (auto* v = member(j, "target_percent")) e.target_percent = read_percent(*v, "emergency.target_percent");
  // Evicting down to a target at or above the trigger would stop after nothing, or never.
  if (!(e.target_percent < e.critical_percent))
    throw Invalid{"emergency.target_percent",
                  "must be below emergency.critical_percent (" + number_text(e.critical_percent) + "), got " +
                      number_text(e.target_percent)};
  if (auto* v = member(j, "keep")) {
    if (!v->is_array()) throw Invalid{"emergency.keep", std::string("expected an array of regexes, got ") + v->type_name()};
    e.keep.clear();
    e.keep_re.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      auto key = "emergency.keep[" + std::to_string(i) + "]";
      auto re = read_string((*v)[i], key);
      // An empty pattern matches every tag: it would silently disable the tier.
      if (re.empty()) throw Invalid{key, "must not be empty"};
      try {
        e.keep_re.emplace_back(re, std::regex::ECMAScript);
      } catch (const std::regex_error& err) {
        throw Invalid{key, "invalid ECMAScript regex " + quote(re) + ": " + err.what()};
      }
      e.keep.push_back(re);
    }
  }
  if (auto* v = member(j, "min_age")) {
    e.min_age = read_duration(*v, "emergency.min_age");
    // 0 would let an image go right after its pull (docuum #177, #302): never what anyone means.
    if (e.min_age <= Duration::zero()) throw Invalid{"emergency.min_age", "must be at least 1ms, got " + v->dump()};
  }
  if (auto* v = member(j, "max_images")) {
    const bool integer = v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0);
    if (!integer || v->get<std::uint64_t>() < 1)
      throw Invalid{"emergency.max_images", "expected an integer >= 1, got " + v->dump()};
    e.max_images = v->get<std::uint64_t>();
  }
}

void parse_log(const json& j, Config& c) {
  require_object(j, "log");
  reject_unknown_keys(j, "log", {"level"});
  if (auto* v = member(j, "level")) {
    auto s = read_string(*v, "log.level");
    auto level = parse_log_level(s);
    if (!level) throw Invalid{"log.level", "expected one of trace, debug, info, warn, error, got " + quote(s)};
    c.log.level = *level;
  }
}

// nlohmann keeps the last of duplicate keys silently; a duplicate is as likely a mistake
// as a typo, so the parser callback records the first one (with its dotted path).
class DuplicateKeyFinder {
 public:
  bool operator()(int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        frames_.push_back({event == json::parse_event_t::object_start, {}, child_name(), {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case json::parse_event_t::key: {
        auto key = parsed.get<std::string>();
        auto& f = frames_.back();
        if (!f.keys.insert(key).second && !duplicate) duplicate = join(f.path, key);
        f.last_key = key;
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  }
  std::optional<std::string> duplicate;

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string path;
    std::string last_key;
  };
  static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }
  std::string child_name() const {
    if (frames_.empty()) return "";
    const auto& f = frames_.back();
    return f.object ? join(f.path, f.last_key) : f.path + "[]";
  }
  std::vector<Frame> frames_;
};

// nlohmann reports the byte offset of the last character read; operators want line:column.
std::string position(std::string_view text, std::size_t byte) {
  std::size_t end = std::min(byte > 0 ? byte - 1 : 0, text.size());
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < end; ++i)
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  return std::to_string(line) + ":" + std::to_string(end - line_start + 1);
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..." -> "syntax error ..."
std::string parse_error_text(const char* what) {
  std::string s = what;
  if (auto at = s.find("parse error"); at != std::string::npos)
    if (auto colon = s.find(": ", at); colon != std::string::npos) s = s.substr(colon + 2);
  for (char& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

}  // namespace

std::string Config::Docker::socket_path() const {
  constexpr std::string_view scheme = "unix://";
  return host.starts_with(scheme) ? host.substr(scheme.size()) : host;
}

std::expected<Config, ConfigError> parse_config(std::string_view text, const std::string& file,
                                                const std::optional<std::string>& docker_host_env) {
  json doc;
  DuplicateKeyFinder dups;
  try {
    doc = json::parse(text, std::ref(dups));
  } catch (const json::parse_error& e) {
    return std::unexpected(ConfigError{file + ":" + position(text, e.byte) + ": " + parse_error_text(e.what())});
  } catch (const json::exception& e) {  // e.g. out_of_range 406 "number overflow parsing '1e400'"
    std::string what = e.what();
    if (auto at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    return std::unexpected(ConfigError{file + ": " + what});
  }
  if (dups.duplicate) return std::unexpected(ConfigError{file + ": " + *dups.duplicate + ": duplicate key"});
  Config c;
  try {
    if (!doc.is_object())
      throw Invalid{"(top level)", std::string("expected a JSON object, got ") + doc.type_name()};
    reject_unknown_keys(doc, "", {"docker", "disk", "gates", "prune", "emergency", "metrics", "log"});
    if (docker_host_env) c.docker.host = *docker_host_env;
    bool host_in_file = false;
    if (auto* v = member(doc, "docker")) host_in_file = parse_docker(*v, c);
    if (!host_in_file && !valid_unix_host(c.docker.host))
      throw Invalid{"docker.host", "unsupported DOCKER_HOST " + quote(c.docker.host) +
                                       " from the environment (only unix:///absolute/path; set docker.host to override)"};
    if (auto* v = member(doc, "disk")) parse_disk(*v, c);
    if (auto* v = member(doc, "gates")) parse_gates(*v, c);
    if (auto* v = member(doc, "prune")) parse_prune(*v, c);
    if (auto* v = member(doc, "emergency")) parse_emergency(*v, c);
    if (auto* v = member(doc, "metrics")) parse_metrics(*v, c);
    if (auto* v = member(doc, "log")) parse_log(*v, c);
  } catch (const Invalid& e) {
    return std::unexpected(ConfigError{file + ": " + e.key + ": " + e.what});
  } catch (const json::exception& e) {  // should not happen: every access is type-checked first
    return std::unexpected(ConfigError{file + ": " + e.what()});
  }
  return c;
}

std::expected<Config, ConfigError> load_config(const std::optional<std::string>& path,
                                               const std::optional<std::string>& docker_host_env) {
  const std::string file = path.value_or(kDefaultConfigPath);
  auto fail = [&](const std::string& what) { return std::unexpected(ConfigError{file + ": " + what}); };
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    // Only the default file may be absent: a named file that is missing is a typo.
    if (err == ENOENT && !path) return parse_config("{}", file, docker_host_env);
    return fail(std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail("cannot read: is a directory");
  }
  // A config is a few hundred bytes; the cap keeps /dev/zero or a stray log from eating memory.
  constexpr std::size_t kMaxSize = 1 << 20;
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(std::string("cannot read: ") + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxSize) {
      ::close(fd);
      return fail("cannot read: larger than 1 MiB, not a config file");
    }
  }
  ::close(fd);
  return parse_config(text, file, docker_host_env);
}

nlohmann::json to_json(const Config& c) {
  // Whole percentages print as 80, not 80.0, to match the shipped config.json.
  auto percent = [](double v) {
    return v == std::floor(v) ? json(static_cast<std::int64_t>(v)) : json(v);
  };
  json labels = json::array();
  for (const auto& l : c.gates.stack_labels) labels.push_back(l);
  return json{
      {"docker", {{"host", c.docker.host}}},
      {"disk",
       {{"path", c.disk.path ? json(*c.disk.path) : json(nullptr)},
        {"threshold_percent", percent(c.disk.threshold_percent)},
        {"inode_threshold_percent", percent(c.disk.inode_threshold_percent)},
        {"poll_interval", format_duration(c.disk.poll_interval)}}},
      {"gates",
       {{"run_stacks", c.gates.run_stacks},
        {"stack_labels", labels},
        {"converge", c.gates.converge},
        {"settle", format_duration(c.gates.settle)},
        {"stuck_after", format_duration(c.gates.stuck_after)}}},
      {"prune",
       {{"until", c.prune.until},  // verbatim: this exact string is what Docker receives
        {"containers", c.prune.containers},
        {"images", c.prune.images},
        {"build_cache", c.prune.build_cache},
        {"cooldown", format_duration(c.prune.cooldown)},
        {"dry_run", c.prune.dry_run}}},
      {"emergency",
       {{"enabled", c.emergency.enabled},
        {"critical_percent", percent(c.emergency.critical_percent)},
        {"target_percent", percent(c.emergency.target_percent)},
        {"keep", c.emergency.keep},
        {"min_age", format_duration(c.emergency.min_age)},
        {"max_images", c.emergency.max_images}}},
      {"metrics",
       {{"textfile", c.metrics.textfile ? json(*c.metrics.textfile) : json(nullptr)},
        {"listen", c.metrics.listen ? json(c.metrics.listen->text) : json(nullptr)}}},
      {"log", {{"level", to_string(c.log.level)}}},
  };
}

std::expected<MetricsListen, std::string> parse_metrics_listen(std::string_view text) {
  MetricsListen l;
  l.text = std::string(text);
  const auto bad = [&](const std::string& why) {
    return std::unexpected(why + ", got " + quote(text) + R"( (forms: "127.0.0.1:PORT", "[::1]:PORT", "unix:/PATH"))");
  };
  if (text.starts_with("unix:")) {
    l.is_unix = true;
    l.path = std::string(text.substr(5));
    if (!l.path.starts_with('/') || l.path.ends_with('/') || l.path.find('\0') != std::string::npos)
      return bad("expected an absolute socket path after unix:");
    // sun_path holds 108 bytes including the terminating NUL (unix(7)).
    if (l.path.size() > 107) return bad("socket path longer than 107 bytes");
    return l;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("expected HOST:PORT or unix:PATH");
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos) return bad("an IPv6 address needs brackets");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
    return bad("expected a port in 1..65535");
  // inet_pton, not Boost.Asio: config is a pure room (test/layering_check.py).
  const std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  char canon[INET6_ADDRSTRLEN];
  bool loopback = false;
  if (inet_pton(AF_INET, h.c_str(), buf) == 1) {
    loopback = buf[0] == 127;  // 127.0.0.0/8
    inet_ntop(AF_INET, buf, canon, sizeof canon);
  } else if (inet_pton(AF_INET6, h.c_str(), buf) == 1) {
    static const unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    loopback = std::memcmp(buf, kLoop6, 16) == 0;  // ::1
    inet_ntop(AF_INET6, buf, canon, sizeof canon);
  } else {
    return bad("expected an IP address (no host names)");
  }
  // SPEC "Metrics": a loopback port. Anything wider would publish the host's CI state and
  // needs the unit's IPAddressDeny=any lifted: put a proxy or node_exporter in front instead.
  if (!loopback) return bad("only a loopback address (127.0.0.0/8 or ::1) may listen");
  l.host = canon;
  l.port = static_cast<unsigned short>(value);
  return l;
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "trace") return LogLevel::trace;
  if (s == "debug") return LogLevel::debug;
  if (s == "info") return LogLevel::info;
  if (s == "warn") return LogLevel::warn;
  if (s == "error") return LogLevel::error;
  return std::nullopt;
}

const char* to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::optional<std::string> docker_host_from_env() {
  const char* v = std::getenv("DOCKER_HOST");
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

}  // namespace cdp
