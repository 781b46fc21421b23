// Logging setup and the two sinks: journald (native fields) and readable stderr lines.
// Owns the record format and the level filter; must not decide what is logged or when
// (callers log once, where they decide). Writing a record never throws.
#include "report/journal.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sys/stat.h>
#include <sys/uio.h>

#include <spdlog/sinks/base_sink.h>
// Without this every record would carry CODE_FILE/CODE_LINE of send() below, which misleads.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

namespace cdp::journal {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Mode of the last setup call, so set_level (e.g. on SIGHUP) keeps one-shots quiet.
// Touched only from the thread that configures logging.
bool g_oneshot = false;
bool g_journal = false;

spdlog::level::level_enum effective_level(LogLevel level) {
  if (g_oneshot && level != LogLevel::trace && level != LogLevel::debug) return spdlog::level::off;
  return to_spdlog(level);
}

// Sends one record; field strings are "NAME=value". Failures are ignored: there is
// nowhere better to report that logging failed.
void send(spdlog::level::level_enum level, std::string_view message, const Fields& extra) {
  std::vector<std::string> lines;
  lines.reserve(extra.size() + 3);
  lines.push_back("MESSAGE=" + std::string(message));
  lines.push_back("PRIORITY=" + std::to_string(priority(level)));
  lines.push_back(std::string("SYSLOG_IDENTIFIER=") + kSyslogIdentifier);
  for (const auto& [name, value] : extra) lines.push_back(name + "=" + value);
  std::vector<iovec> iov;
  iov.reserve(lines.size());
  for (auto& l : lines) iov.push_back({l.data(), l.size()});
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    send(msg.level, std::string_view(msg.payload.data(), msg.payload.size()), {});
  }
  void flush_() override {}
};

// One write per record, unbuffered, so lines from a crash are not lost.
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto when = std::chrono::time_point_cast<Clock::duration>(msg.time);
    auto line = format_line(when, msg.level, std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

void install(LogLevel level) {
  g_journal = stderr_is_journal();
  spdlog::sink_ptr sink;
  if (g_journal)
    sink = std::make_shared<JournalSink>();
  else
    sink = std::make_shared<StderrSink>();
  auto logger = std::make_shared<spdlog::logger>(kSyslogIdentifier, std::move(sink));
  logger->set_level(effective_level(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  return false;
}

}  // namespace

void setup(LogLevel level) {
  g_oneshot = false;
  install(level);
}

void setup_oneshot(LogLevel level) {
  g_oneshot = true;
  install(level);
}

void set_level(LogLevel level) { spdlog::default_logger()->set_level(effective_level(level)); }

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM="<dev>:<ino>" of the stream it connected; a child whose
  // stderr was redirected elsewhere inherits the variable, hence the comparison.
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  unsigned long long dev = 0, ino = 0;
  int consumed = 0;
  if (std::sscanf(env, "%llu:%llu%n", &dev, &ino, &consumed) != 2 || env[consumed] != '\0') return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void event(spdlog::level::level_enum level, const std::string& cdp_event, const Fields& fields,
           const std::string& message) {
  auto logger = spdlog::default_logger();
  if (!logger || !logger->should_log(level)) return;
  Fields all;
  all.reserve(fields.size() + 1);
  all.emplace_back("CDP_EVENT", cdp_event);
  // An empty value means "unknown here" (e.g. CDP_DISK_PERCENT before the first statvfs):
  // leave the field out rather than record an empty one that filters would match.
  for (const auto& f : fields)
    if (!f.second.empty()) all.push_back(f);
  if (g_journal) {
    send(level, message, all);
    return;
  }
  logger->log(level, "{}{}", message, format_fields(all));
}

std::string format_line(TimePoint when, spdlog::level::level_enum level, std::string_view message) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(when);
  if (secs > when) secs -= seconds(1);  // floor for times before the epoch
  auto ms = duration_cast<milliseconds>(when - secs).count();
  std::time_t t = Clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[96];  // roomy: the compiler cannot bound tm_year
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  static constexpr const char* names[] = {"trace", "debug", "info", "warn", "error", "crit", "off"};
  auto index = static_cast<std::size_t>(level);
  std::string out = stamp;
  out += ' ';
  out += index < std::size(names) ? names[index] : "info";
  out += ' ';
  for (char c : message) {
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_fields(const Fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    out += ' ';
    out += name;
    out += '=';
    if (!needs_quotes(value)) {
      out += value;
      continue;
    }
    out += '"';
    for (char c : value) {
      if (c == '"' || c == '\\')
        out += {'\\', c};
      else if (c == '\n')
        out += "\\n";
      else
        out += c;
    }
    out += '"';
  }
  return out;
}

int priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    case spdlog::level::critical: return 2;
    default: return 6;
  }
}

}  // namespace cdp::journal
