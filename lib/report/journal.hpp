// Logging: native journal records (with SYSLOG_IDENTIFIER and CDP_* fields) when
// JOURNAL_STREAM matches stderr, readable lines on stderr otherwise.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config.hpp"

namespace cdp::journal {

inline constexpr const char* kPruneFinishedMessageId = "e7cea30e9fb54ec5bd9950e945aca9d8";

// Sets the default spdlog logger: journal sink or stderr. Call again to change the level.
void setup(LogLevel level);
void set_level(LogLevel level);
// True when JOURNAL_STREAM names our stderr.
bool stderr_is_journal();

using Fields = std::vector<std::pair<std::string, std::string>>;  // {"CDP_GATE","disk"}, ...
// A decision record: CDP_EVENT=<event> plus `fields`, at `level`. Under journald these are
// real fields; on stderr they are appended as " key=value".
void event(spdlog::level::level_enum level, const std::string& cdp_event, const Fields& fields,
           const std::string& message);

}  // namespace cdp::journal
