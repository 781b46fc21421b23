// JSON -> model types (pure): /services?status=true, /containers/json, /info, RFC 3339
// times. Unknown fields are ignored; a missing or mistyped field we rely on is an error
// string naming it. Must not throw (exceptions stop at each parse_* function) or log.
#include "docker/mapping.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <chrono>
#include <stdexcept>

namespace cdp::docker {
namespace {

using json = nlohmann::json;

// Thrown by the readers below, caught in each parse_* function: keeps the walkers straight.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json* find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const json& require(const json& obj, const char* key, const std::string& where) {
  const json* v = find(obj, key);
  if (!v) throw BadField(where + ": missing \"" + key + "\"");
  return *v;
}

std::string require_string(const json& obj, const char* key, const std::string& where) {
  const json& v = require(obj, key, where);
  if (!v.is_string()) throw BadField(where + ": \"" + key + "\" is not a string");
  return v.get<std::string>();
}

std::string optional_string(const json& obj, const char* key, const std::string& where) {
  const json* v = find(obj, key);
  if (!v) return {};
  if (!v->is_string()) throw BadField(where + ": \"" + key + "\" is not a string");
  return v->get<std::string>();
}

std::uint64_t require_count(const json& obj, const char* key, const std::string& where) {
  const json& v = require(obj, key, where);
  if (!v.is_number_unsigned()) throw BadField(where + ": \"" + key + "\" is not a non-negative integer");
  return v.get<std::uint64_t>();
}

// null or absent -> {}; an object of strings -> Labels; anything else is an error.
Labels labels_of(const json& obj, const char* key, const std::string& where) {
  Labels out;
  const json* v = find(obj, key);
  if (!v) return out;
  if (!v->is_object()) throw BadField(where + ": \"" + key + "\" is not an object");
  for (const auto& [k, val] : v->items()) {
    if (!val.is_string()) throw BadField(where + ": label \"" + k + "\" is not a string");
    out.emplace(k, val.get<std::string>());
  }
  return out;
}

void parse_mode(const json& spec, Service& s, const std::string& where) {
  const json* mode = find(spec, "Mode");
  if (!mode) return;  // the engine always sends it; absent means its default, replicated
  if (!mode->is_object()) throw BadField(where + ": \"Mode\" is not an object");
  if (find(*mode, "Replicated")) {
    s.mode = ServiceMode::replicated;
  } else if (find(*mode, "Global")) {
    s.mode = ServiceMode::global;
  } else if (const json* job = find(*mode, "ReplicatedJob")) {
    s.mode = ServiceMode::replicated_job;
    // Swarm defaults TotalCompletions to MaxConcurrent (itself default 1) when unset.
    if (find(*job, "TotalCompletions")) s.total_completions = require_count(*job, "TotalCompletions", where + ".Mode.ReplicatedJob");
  } else if (find(*mode, "GlobalJob")) {
    s.mode = ServiceMode::global_job;
  } else {
    throw BadField(where + ": unknown service mode " + mode->dump());
  }
}

Service parse_service(const json& j) {
  if (!j.is_object()) throw BadField("service is not an object");
  Service s;
  s.id = require_string(j, "ID", "service");
  const std::string where = "service " + s.id;
  const json& spec = require(j, "Spec", where);
  s.name = require_string(spec, "Name", where + ".Spec");
  s.labels = labels_of(spec, "Labels", where + ".Spec");
  parse_mode(spec, s, where + ".Spec");
  if (const json* us = find(j, "UpdateStatus")) {
    const std::string state = optional_string(*us, "State", where + ".UpdateStatus");
    if (!state.empty()) s.update_state = state;
  }
  if (const std::string updated = optional_string(j, "UpdatedAt", where); !updated.empty()) {
    s.updated_at = parse_time(updated);
    if (!s.updated_at) throw BadField(where + ": bad UpdatedAt \"" + updated + "\"");
  }
  if (const json* st = find(j, "ServiceStatus")) {
    const std::string w = where + ".ServiceStatus";
    Service::Status status;
    status.running = require_count(*st, "RunningTasks", w);
    status.desired = require_count(*st, "DesiredTasks", w);
    // CompletedTasks is absent on engines older than API 1.41.
    if (find(*st, "CompletedTasks")) status.completed = require_count(*st, "CompletedTasks", w);
    s.status = status;
  }
  return s;
}

Container parse_container(const json& j) {
  if (!j.is_object()) throw BadField("container is not an object");
  Container c;
  c.id = require_string(j, "Id", "container");
  const std::string where = "container " + c.id.substr(0, 12);
  if (const json* names = find(j, "Names")) {
    if (!names->is_array()) throw BadField(where + ": \"Names\" is not an array");
    if (!names->empty()) {
      if (!(*names)[0].is_string()) throw BadField(where + ": \"Names\" holds a non-string");
      c.name = (*names)[0].get<std::string>();
      if (!c.name.empty() && c.name.front() == '/') c.name.erase(0, 1);
    }
  }
  c.image = optional_string(j, "Image", where);
  c.state = require_string(j, "State", where);
  c.labels = labels_of(j, "Labels", where);
  if (const json* created = find(j, "Created")) {
    if (!created->is_number_integer()) throw BadField(where + ": \"Created\" is not an integer");
    c.created = TimePoint{std::chrono::seconds{created->get<std::int64_t>()}};
  }
  return c;
}

template <typename T, typename F>
std::expected<std::vector<T>, std::string> parse_array(const json& j, const char* what, F each) {
  try {
    if (!j.is_array()) return std::unexpected(std::string(what) + " reply is not a JSON array");
    std::vector<T> out;
    out.reserve(j.size());
    for (const auto& item : j) out.push_back(each(item));
    return out;
  } catch (const std::exception& e) {  // BadField, nlohmann's, bad_alloc: never out of here
    return std::unexpected(std::string(e.what()));
  }
}

// --- Streaming: the lists' reply text to model types without the whole DOM (issue 9) ---
// GET /containers/json at 10 000 containers is ~7.4 MB of JSON, most of it ports, mounts,
// networks and host config we never read; the DOM of all of it cost ~900 ms and ~60 MiB of
// heap (bench/run.py, "confirming list"). A SAX pass keeps, per array element, only the
// keys below, hands each element to the same parse_container/parse_service as the DOM
// path (same checks, same error texts) and drops it before the next one.

// The keys kept of an object value; nullptr where a whole value is kept.
struct Keep {
  std::vector<std::pair<std::string_view, const Keep*>> keys;
};

const Keep kContainerKeep{{{"Id", nullptr}, {"Names", nullptr}, {"Image", nullptr}, {"State", nullptr},
                           {"Labels", nullptr}, {"Created", nullptr}}};
const Keep kServiceSpecKeep{{{"Name", nullptr}, {"Labels", nullptr}, {"Mode", nullptr}}};
const Keep kServiceKeep{{{"ID", nullptr}, {"Spec", &kServiceSpecKeep}, {"UpdateStatus", nullptr},
                         {"UpdatedAt", nullptr}, {"ServiceStatus", nullptr}}};

// nlohmann's SAX interface (json::sax_parse): the top value must be an array; each element,
// filtered by `keep`, goes to `each` as soon as it is complete.
template <typename Each>
class FilteredArray {
 public:
  FilteredArray(const Keep* keep, Each each) : element_keep_(keep), each_(std::move(each)) {}

  bool not_json = false;   // a syntax error
  bool not_array = false;  // valid so far, but the top value is no array

  bool null() { return scalar(nullptr); }
  bool boolean(bool v) { return scalar(v); }
  bool number_integer(json::number_integer_t v) { return scalar(v); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return scalar(v); }
  bool string(json::string_t& v) {
    if (skip_ > 0) return true;
    if (!root_) return top_not_array();
    if (!slot()) return true;
    return place(json(std::move(v)));
  }
  bool binary(json::binary_t&) { return scalar(nullptr); }  // not in JSON text
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (skip_ > 0) return true;
    Frame& f = frames_.back();
    f.next_key = std::move(k);
    f.next_kept = true;
    f.next_keep = nullptr;
    if (f.keep) {
      auto it = std::find_if(f.keep->keys.begin(), f.keep->keys.end(),
                             [&](const auto& kv) { return kv.first == f.next_key; });
      f.next_kept = it != f.keep->keys.end();
      if (f.next_kept) f.next_keep = it->second;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    not_json = true;
    return false;
  }

 private:
  struct Frame {
    json* node = nullptr;       // nullptr: the top array (its elements are handed out)
    const Keep* keep = nullptr; // object: which keys; array: each element's filter
    std::string next_key;
    bool next_kept = true;
    const Keep* next_keep = nullptr;
  };

  bool top_not_array() {
    not_array = true;
    return false;
  }
  // Whether the next value in the innermost frame is kept; its filter in slot_keep_.
  bool slot() {
    const Frame& f = frames_.back();
    if (f.node && f.node->is_object()) {
      slot_keep_ = f.next_keep;
      return f.next_kept;
    }
    slot_keep_ = f.keep;
    return true;
  }
  template <typename V>
  bool scalar(V&& v) {
    if (skip_ > 0) return true;
    if (!root_) return top_not_array();
    if (!slot()) return true;
    return place(json(std::forward<V>(v)));
  }
  // Puts a kept value where it belongs; returns where it went.
  json* put(json&& v) {
    Frame& f = frames_.back();
    if (!f.node) {
      element_ = std::move(v);
      return &element_;
    }
    if (f.node->is_array()) {
      f.node->push_back(std::move(v));
      return &f.node->back();
    }
    json& slot = (*f.node)[f.next_key];
    slot = std::move(v);
    return &slot;
  }
  bool place(json&& v) {
    put(std::move(v));
    if (!frames_.back().node) hand_out();
    return true;
  }
  bool open(json::value_t type) {
    if (skip_ > 0) return ++skip_, true;
    if (!root_) {
      if (type != json::value_t::array) return top_not_array();
      root_ = true;
      frames_.push_back(Frame{nullptr, element_keep_, {}, true, nullptr});
      return true;
    }
    if (!slot()) return ++skip_, true;
    const Keep* keep = slot_keep_;
    json* node = put(json(type));
    frames_.push_back(Frame{node, keep, {}, true, nullptr});
    return true;
  }
  bool close() {
    if (skip_ > 0) return --skip_, true;
    frames_.pop_back();
    if (!frames_.empty() && !frames_.back().node) hand_out();
    return true;
  }
  void hand_out() {
    each_(std::move(element_));
    element_ = json();
  }

  const Keep* element_keep_;
  Each each_;
  bool root_ = false;
  int skip_ = 0;  // depth inside a dropped value
  const Keep* slot_keep_ = nullptr;
  std::vector<Frame> frames_;
  json element_;
};

template <typename T, typename F>
std::expected<std::vector<T>, std::string> parse_array_text(std::string_view text, const char* what, const Keep* keep,
                                                            F each) {
  try {
    std::vector<T> out;
    auto collect = [&](json&& item) { out.push_back(each(item)); };
    FilteredArray<decltype(collect)> sax(keep, collect);
    const bool ok = json::sax_parse(text.begin(), text.end(), &sax);
    if (sax.not_array) return std::unexpected(std::string(what) + " reply is not a JSON array");
    if (!ok || sax.not_json) return std::unexpected(std::string("reply is not JSON"));
    return out;
  } catch (const std::exception& e) {  // BadField, nlohmann's, bad_alloc: never out of here
    return std::unexpected(std::string(e.what()));
  }
}

// The fast path for the lists: copies the kept keys of each element (and of a kept object
// with a filter of its own, services' "Spec") into a much smaller text for the SAX pass
// above, stepping over the other values by their structure alone (strings closed,
// brackets matched, scalars delimited) instead of lexing them: nlohmann's lexer was ~60 %
// of the list's CPU (perf on bench-lists). Anything unexpected (not an array of objects, an escaped key, a
// syntax error it notices) returns nullopt, and the whole text goes through the SAX pass,
// which reports exactly what is wrong. So a malformed value we skip may go unnoticed.
class Reducer {
 public:
  Reducer(std::string_view text, const Keep& keep) : t_(text), keep_(keep) {}

  std::optional<std::string> run() {
    std::string out;
    out.reserve(t_.size() / 4);
    ws();
    if (!eat('[')) return std::nullopt;
    out += '[';
    ws();
    if (!eat(']')) {
      for (bool first = true;; first = false) {
        if (!first) out += ',';
        if (!element(out, keep_)) return std::nullopt;
        ws();
        if (eat(']')) break;
        if (!eat(',')) return std::nullopt;
        ws();
      }
    }
    out += ']';
    ws();
    if (p_ != t_.size()) return std::nullopt;
    return out;
  }

 private:
  // One object, reduced to the keys `keep` names; a kept key with a filter of its own
  // (services' "Spec") is reduced the same way when its value is an object.
  bool element(std::string& out, const Keep& keep) {
    if (!eat('{')) return false;
    out += '{';
    ws();
    if (eat('}')) return out += '}', true;
    for (bool first_kept = true;;) {
      if (p_ >= t_.size() || t_[p_] != '"') return false;
      const std::size_t key_start = p_;
      if (!string()) return false;
      const std::string_view key = t_.substr(key_start + 1, p_ - key_start - 2);
      if (key.find('\\') != std::string_view::npos) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      const std::size_t value_start = p_;
      const auto it = std::find_if(keep.keys.begin(), keep.keys.end(), [&](const auto& k) { return k.first == key; });
      if (it == keep.keys.end()) {
        if (!value()) return false;
      } else {
        if (!first_kept) out += ',';
        first_kept = false;
        out.append(t_.substr(key_start, value_start - key_start));  // "key" :
        if (it->second && p_ < t_.size() && t_[p_] == '{') {
          if (!element(out, *it->second)) return false;
        } else {
          if (!value()) return false;
          out.append(t_.substr(value_start, p_ - value_start));
        }
      }
      ws();
      if (eat('}')) return out += '}', true;
      if (!eat(',')) return false;
      ws();
    }
  }
  // One value, any type; p_ after it.
  bool value() {
    if (p_ >= t_.size()) return false;
    const char c = t_[p_];
    if (c == '"') return string();
    if (c == '{' || c == '[') return nested();
    if (c != '-' && (c < '0' || c > '9') && c != 't' && c != 'f' && c != 'n') return false;
    const std::size_t start = p_;
    while (p_ < t_.size() && !delimiter(t_[p_])) ++p_;
    return p_ > start;
  }
  bool nested() {
    char stack[256];
    std::size_t depth = 0;
    while (p_ < t_.size()) {
      const char c = t_[p_];
      if (c == '"') {
        if (!string()) return false;
        continue;
      }
      if (c == '{' || c == '[') {
        if (depth == sizeof stack) return false;
        stack[depth++] = c == '{' ? '}' : ']';
      } else if (c == '}' || c == ']') {
        if (depth == 0 || stack[depth - 1] != c) return false;
        if (--depth == 0) return ++p_, true;
      }
      ++p_;
    }
    return false;
  }
  bool string() {
    ++p_;  // the opening quote
    while (p_ < t_.size()) {
      const unsigned char c = static_cast<unsigned char>(t_[p_]);
      if (c == '"') return ++p_, true;
      if (c == '\\') {
        p_ += 2;
        continue;
      }
      if (c < 0x20) return false;
      ++p_;
    }
    return false;
  }
  static bool delimiter(char c) { return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  void ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t')) ++p_;
  }
  bool eat(char c) {
    if (p_ < t_.size() && t_[p_] == c) return ++p_, true;
    return false;
  }

  std::string_view t_;
  const Keep& keep_;
  std::size_t p_ = 0;
};

// Reads exactly `n` digits at `p`; advances p.
bool digits(std::string_view text, std::size_t& p, std::size_t n, int& out) {
  if (p + n > text.size()) return false;
  auto [end, ec] = std::from_chars(text.data() + p, text.data() + p + n, out);
  if (ec != std::errc{} || end != text.data() + p + n) return false;
  p += n;
  return true;
}

bool expect(std::string_view text, std::size_t& p, char c) {
  if (p >= text.size() || text[p] != c) return false;
  ++p;
  return true;
}

}  // namespace

std::expected<std::vector<Service>, std::string> parse_services(const nlohmann::json& j) {
  return parse_array<Service>(j, "services", parse_service);
}

std::expected<std::vector<Container>, std::string> parse_containers(const nlohmann::json& j) {
  return parse_array<Container>(j, "containers", parse_container);
}

std::expected<std::vector<Service>, std::string> parse_services_text(std::string_view text) {
  if (auto reduced = Reducer(text, kServiceKeep).run())
    return parse_array_text<Service>(*reduced, "services", &kServiceKeep, parse_service);
  return parse_array_text<Service>(text, "services", &kServiceKeep, parse_service);
}

std::expected<std::vector<Container>, std::string> parse_containers_text(std::string_view text) {
  if (auto reduced = Reducer(text, kContainerKeep).run())
    return parse_array_text<Container>(*reduced, "containers", &kContainerKeep, parse_container);
  return parse_array_text<Container>(text, "containers", &kContainerKeep, parse_container);
}

std::expected<EngineInfo, std::string> parse_info(const nlohmann::json& j) {
  try {
    if (!j.is_object()) return std::unexpected(std::string("info reply is not a JSON object"));
    EngineInfo info;
    info.docker_root_dir = require_string(j, "DockerRootDir", "info");
    info.server_version = optional_string(j, "ServerVersion", "info");
    if (const json* swarm = find(j, "Swarm")) {
      info.swarm_local_node_state = optional_string(*swarm, "LocalNodeState", "info.Swarm");
      if (const json* ca = find(*swarm, "ControlAvailable")) {
        if (!ca->is_boolean()) throw BadField("info.Swarm: \"ControlAvailable\" is not a boolean");
        info.swarm_control_available = ca->get<bool>();
      }
    }
    if (info.swarm_local_node_state.empty()) info.swarm_local_node_state = "inactive";
    return info;
  } catch (const std::exception& e) {
    return std::unexpected(std::string(e.what()));
  }
}

std::expected<Container, std::string> parse_container_inspect(const nlohmann::json& j) {
  try {
    if (!j.is_object()) return std::unexpected(std::string("inspect reply is not a JSON object"));
    Container c;
    c.id = require_string(j, "Id", "container");
    const std::string where = "container " + c.id.substr(0, 12);
    c.name = optional_string(j, "Name", where);
    if (!c.name.empty() && c.name.front() == '/') c.name.erase(0, 1);
    const json& state = require(j, "State", where);
    const std::string w = where + ".State";
    c.state = require_string(state, "Status", w);
    if (const json* restarting = find(state, "Restarting"); restarting && restarting->is_boolean() &&
                                                          restarting->get<bool>())
      c.state = "restarting";
    if (const json* config = find(j, "Config")) {
      c.labels = labels_of(*config, "Labels", where + ".Config");
      c.image = optional_string(*config, "Image", where + ".Config");
    }
    return c;
  } catch (const std::exception& e) {
    return std::unexpected(std::string(e.what()));
  }
}

std::optional<TimePoint> parse_time(std::string_view text) {
  // 2026-11-26T10:00:00[.fraction](Z|+hh:mm|-hh:mm), as Go's RFC3339Nano prints it.
  std::size_t p = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(text, p, 4, y) || !expect(text, p, '-') || !digits(text, p, 2, mo) || !expect(text, p, '-') ||
      !digits(text, p, 2, d) || !(expect(text, p, 'T') || expect(text, p, 't')) || !digits(text, p, 2, h) ||
      !expect(text, p, ':') || !digits(text, p, 2, mi) || !expect(text, p, ':') || !digits(text, p, 2, s))
    return std::nullopt;
  std::int64_t nanos = 0;
  if (p < text.size() && text[p] == '.') {
    ++p;
    int n = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      if (n < 9) nanos = nanos * 10 + (text[p] - '0');
      ++n;
      ++p;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 9; ++i) nanos *= 10;
  }
  int offset_minutes = 0;
  if (expect(text, p, 'Z') || expect(text, p, 'z')) {
  } else if (p < text.size() && (text[p] == '+' || text[p] == '-')) {
    const int sign = text[p++] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!digits(text, p, 2, oh) || !expect(text, p, ':') || !digits(text, p, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (p != text.size()) return std::nullopt;
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;
  // Go's zero time ("0001-01-01T00:00:00Z", e.g. a never-used cache record) and anything
  // else outside system_clock's nanosecond range (1678..2261) is "no time".
  if (y < 1970 || y > 2261) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const auto since_epoch = std::chrono::sys_days{ymd}.time_since_epoch() + std::chrono::hours{h} +
                           std::chrono::minutes{mi - offset_minutes} + std::chrono::seconds{s} +
                           std::chrono::nanoseconds{nanos};
  return TimePoint{std::chrono::duration_cast<Clock::duration>(since_epoch)};
}

}  // namespace cdp::docker
