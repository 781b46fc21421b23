// The state file: read tolerant (a bad file is a warning, never a crash), written atomically
// so a crash mid-write leaves the old file or the new one, never half of one. No logging.
#include "state/state_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace cdp {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::int64_t to_us(auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// write(2) until done or failed.
bool write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::string state_file_path() {
  std::string dir = kDefaultStateDirectory;
  if (const char* env = std::getenv("STATE_DIRECTORY"); env && *env) {
    dir = env;
    if (const auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/state.json";
}

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::expected<void, std::string> StateFile::load() {
  doc_ = nlohmann::json::object();
  std::ifstream in(path_);
  if (!in) {
    const int e = errno;
    if (e == ENOENT)
      return std::unexpected(fmt::format("No state file at {} yet: no last prune known, the cooldown starts "
                                         "with the first prune",
                                         path_));
    return std::unexpected(fmt::format("Failed to read {}: {}; starting without a last prune", path_, errno_text(e)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto j = nlohmann::json::parse(buf.str(), nullptr, false);
  if (!j.is_object())
    return std::unexpected(fmt::format("Failed to read {}: not a JSON object; starting without a last prune "
                                       "(the file is rewritten after the next prune)",
                                       path_));
  doc_ = std::move(j);
  if (doc_.contains("last_prune")) {
    bool same = false;
    if (!last_prune("", same))
      return std::unexpected(fmt::format("Failed to read {}: \"last_prune\" is malformed; starting without a last "
                                         "prune",
                                         path_));
  }
  return {};
}

std::optional<timeline::LastPrune> StateFile::last_prune(const std::string& boot_id, bool& same_boot) const {
  same_boot = false;
  auto it = doc_.find("last_prune");
  if (it == doc_.end() || !it->is_object()) return std::nullopt;
  const auto& o = *it;
  auto fin = o.find("finished_us");
  if (fin == o.end() || !fin->is_number_integer()) return std::nullopt;
  timeline::LastPrune last;
  last.wall = TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(fin->get<std::int64_t>())));
  if (auto v = o.find("outcome"); v != o.end() && v->is_string()) last.outcome = v->get<std::string>();
  if (auto v = o.find("reclaimed_bytes"); v != o.end() && v->is_number_unsigned()) last.reclaimed = v->get<std::uint64_t>();
  auto mono = o.find("monotonic_us");
  auto boot = o.find("boot_id");
  if (mono != o.end() && mono->is_number_integer() && boot != o.end() && boot->is_string() && !boot_id.empty() &&
      boot->get<std::string>() == boot_id) {
    last.mono = SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(
        std::chrono::microseconds(mono->get<std::int64_t>())));
    same_boot = true;
  }
  return last;
}

std::expected<void, std::string> StateFile::save_last_prune(const timeline::LastPrune& last, const std::string& boot_id) {
  nlohmann::json o = nlohmann::json::object();
  o["finished_us"] = to_us(last.wall.time_since_epoch());
  o["monotonic_us"] = to_us(last.mono.time_since_epoch());
  o["boot_id"] = boot_id;
  o["outcome"] = last.outcome;
  o["reclaimed_bytes"] = last.reclaimed;
  doc_["last_prune"] = std::move(o);
  return write();
}

std::expected<void, std::string> StateFile::write() const {
  const std::string dir = dir_of(path_);
  auto fail = [&](const std::string& what, int e) -> std::expected<void, std::string> {
    return std::unexpected(fmt::format("Failed to write {}: {}: {}", path_, what, errno_text(e)));
  };
  // StateDirectory= creates it under systemd; elsewhere (tests, dev runs) we may have to.
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return fail("mkdir " + dir, errno);
  const std::string tmp = fmt::format("{}.tmp.{}", path_, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("open " + tmp, errno);
  const std::string data = doc_.dump(2) + "\n";
  if (!write_all(fd, data) || ::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail("write " + tmp, e);
  }
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail("close " + tmp, e);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail("rename", e);
  }
  // The rename is durable only once the directory entry is.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail("open " + dir, errno);
  const int rc = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  if (rc != 0) return fail("fsync " + dir, e);
  return {};
}

}  // namespace cdp
