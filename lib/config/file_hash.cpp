// The config file fingerprint (config/file_hash.hpp). Reads the file; nothing else.
#include "config/file_hash.hpp"

#include <cstdint>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace cdp {

std::string config_hash(std::string_view bytes) {
  // FNV-1a, 64 bit: offset basis and prime from the FNV reference (isthe.com/chongo/tech/comp/fnv).
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

std::optional<std::string> config_file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return config_hash(bytes);
}

}  // namespace cdp
