// Logging: native journal records (with SYSLOG_IDENTIFIER and CDP_* fields) when
// JOURNAL_STREAM matches stderr, readable lines on stderr otherwise.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "policy/prune_step.hpp"
#include "util/time.hpp"

namespace cdp::journal {

inline constexpr const char* kPruneFinishedMessageId = cdp::kPruneFinishedMessageId;  // policy/prune_step.hpp
// The still_full warning (systemd/ci-docker-prune.catalog explains both ids).
inline constexpr const char* kStillFullMessageId = "7ac5fb2c24ec455c9de8eca74fc4540a";
inline constexpr const char* kSyslogIdentifier = "ci-docker-prune";

// Sets the default spdlog logger: journal sink or stderr. Call again to change the level.
// For the daemon: every record at `level` or above is written.
void setup(LogLevel level);
// For one-shot commands (plan, prune, check-config, status), whose results and errors the
// command prints itself (SPEC: "one-shot commands print nothing else on stderr unless
// log.level asks for it"): the logger stays silent unless `level` is debug or trace, in
// which case it shows that level and above. info/warn/error all mean "silent".
void setup_oneshot(LogLevel level);
// Changes the level, keeping the mode (daemon or one-shot) chosen by the last setup call.
void set_level(LogLevel level);
// True when JOURNAL_STREAM ("<st_dev>:<st_ino>", set by systemd) names our stderr.
bool stderr_is_journal();

using Fields = std::vector<std::pair<std::string, std::string>>;  // {"CDP_GATE","disk"}, ...
// A decision record: CDP_EVENT=<event> plus `fields`, at `level`. Under journald these are
// real fields; on stderr they are appended as " key=value". Filtered like any record.
// A field with an empty value is left out (empty = unknown, e.g. disk percent before statvfs).
void event(spdlog::level::level_enum level, const std::string& cdp_event, const Fields& fields,
           const std::string& message);

// The stderr form, pure for tests: "2026-11-26T10:00:00.123Z info message" (UTC, ms).
// Level names: trace debug info warn error crit. Newlines in `message` become "\n".
std::string format_line(TimePoint when, spdlog::level::level_enum level, std::string_view message);
// " CDP_EVENT=gate CDP_GATE=disk": values that are empty or hold spaces, quotes, '=' or
// control characters are double-quoted with \" \\ \n escapes.
std::string format_fields(const Fields& fields);
// syslog priority for journald's PRIORITY= (trace and debug are both 7).
int priority(spdlog::level::level_enum level);

}  // namespace cdp::journal
