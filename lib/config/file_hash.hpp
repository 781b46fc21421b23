// A short fingerprint of the config file's bytes, so `status` can show which file content
// the daemon runs with and tell when the file changed since. Not cryptographic: it only
// has to tell two versions of one file apart. Must not parse or validate the config.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace cdp {

// 16 lower-case hex digits: FNV-1a 64 of `bytes`.
std::string config_hash(std::string_view bytes);
// config_hash() of the file at `path`; nullopt when it cannot be read (absent: defaults).
std::optional<std::string> config_file_hash(const std::string& path);

}  // namespace cdp
